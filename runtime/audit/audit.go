// SPDX-License-Identifier: Apache-2.0

// Package audit writes a tamper-evident, durable audit log: one JSON line per
// record, each carrying its sequence number and the SHA-256 of the record
// before it, so that editing, inserting or deleting a record breaks the chain
// (Verify finds where).
//
// When a record counts as written is the log's SyncMode: with Interval (the
// default) Log returns once the record is in the file, so a crash of the
// process loses nothing, and the file is synced at least every
// Options.SyncInterval, which bounds what a crash of the machine can lose;
// with Always, Log returns once the record is synced, and concurrent callers
// share one sync (group commit). Either way concurrent records are appended
// in one write.
//
// A chain of plain hashes shows accidental and careless tampering; someone
// who can rewrite the whole file can also recompute the chain. Two anchors
// close that gap: a chain key (Options.Key), which makes each record's hash
// an HMAC-SHA256 that only a holder of the key can recompute, and
// checkpoints (the sequence number and hash of the last durable record),
// which the Logger hands to its Observer periodically so that they can be
// kept somewhere the writer of the log cannot change; VerifyWith checks a
// log against them.
package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"

	"github.com/taskwire/taskwire/runtime/internal/jsonstr"
)

// Record types the log itself gives meaning to; custom events use their own.
const (
	// TypeRequest is the record of a request, written when its response
	// is ready and before it is released.
	TypeRequest = "request"
	// TypeIntent is written before a state-changing request's handler
	// runs; the request's TypeRequest record follows and names it in its
	// Intent field. An intent without an outcome record means the server
	// stopped while the request was being served.
	TypeIntent = "intent"
)

// OutcomePending is the outcome of an intent record.
const OutcomePending = "pending"

// Record is one audit record. Fields that do not apply are omitted.
// Credentials never appear: a principal is named by its key id or token subject.
type Record struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Type       string         `json:"type"` // TypeRequest, TypeIntent, or a custom event's type
	RequestID  string         `json:"request_id,omitempty"`
	Principal  string         `json:"principal,omitempty"`
	AuthMethod string         `json:"auth_method,omitempty"`
	ClientIP   string         `json:"client_ip,omitempty"`
	Method     string         `json:"method,omitempty"`
	Route      string         `json:"route,omitempty"` // the operation id
	Path       string         `json:"path,omitempty"`  // without the query string
	PipelineID string         `json:"pipeline_id,omitempty"`
	RunID      string         `json:"run_id,omitempty"`
	Action     string         `json:"action,omitempty"`
	Outcome    string         `json:"outcome"`
	Status     int            `json:"status,omitempty"`
	Detail     string         `json:"detail,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
	Intent     uint64         `json:"intent,omitempty"` // a request record: the Seq of its intent record
	Prev       string         `json:"prev"`             // hash of the previous record; GenesisHash for the first
}

// GenesisHash is the Prev of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Every line ends with `,"hash":"<64 hex digits>"}` (the SHA-256 of the
// line before that field) or, in a keyed chain, `,"mac":"<64 hex digits>"}`
// (its HMAC-SHA256 with the chain key): the field's name says which.
const (
	hashPrefix = `,"hash":"`
	macPrefix  = `,"mac":"`
	hashLen    = 64
)

// chainSum computes the hash of each line: SHA-256, or HMAC-SHA256 when mac
// is set. It is used by one goroutine at a time.
type chainSum struct {
	mac hash.Hash
	buf []byte
}

// newChainSum returns the chain's sum for key (a plain SHA-256 when key is empty).
func newChainSum(key []byte) *chainSum {
	if len(key) == 0 {
		return &chainSum{}
	}
	return &chainSum{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, sha256.Size)}
}

// keyed reports whether the sum is an HMAC.
func (c *chainSum) keyed() bool { return c != nil && c.mac != nil }

// sum returns the hash of body as hex digits.
func (c *chainSum) sum(body []byte) (h hexHash) {
	if !c.keyed() {
		s := sha256.Sum256(body)
		hex.Encode(h[:], s[:])
		return h
	}
	c.mac.Reset()
	c.mac.Write(body)
	c.buf = c.mac.Sum(c.buf[:0])
	hex.Encode(h[:], c.buf)
	return h
}

// hexHash is a record's hash as its 64 hex digits.
type hexHash [hashLen]byte

var genesis = func() (h hexHash) { copy(h[:], GenesisHash); return h }()

// encodeDetails encodes a record's custom details, before the record joins a
// batch: an event JSON cannot encode fails alone, and encoding a batch
// cannot fail.
func encodeDetails(d map[string]any) ([]byte, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("audit: encoding record: %w", err)
	}
	return b, nil
}

// appendRecord appends the line of rec (with its newline) to dst, as
// encoding/json would write the Record (details already encoded) with prev
// as its Prev, and returns the line's hash. The hash covers the line's bytes
// before the hash field, so verification never depends on re-encoding; cs
// says whether it is a plain hash or a MAC (nil: a plain hash).
func appendRecord(dst []byte, rec *Record, details []byte, prev *hexHash, cs *chainSum) ([]byte, hexHash) {
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, rec.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = rec.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","type":`...)
	dst = jsonstr.Append(dst, rec.Type)
	dst = appendField(dst, `,"request_id":`, rec.RequestID)
	dst = appendField(dst, `,"principal":`, rec.Principal)
	dst = appendField(dst, `,"auth_method":`, rec.AuthMethod)
	dst = appendField(dst, `,"client_ip":`, rec.ClientIP)
	dst = appendField(dst, `,"method":`, rec.Method)
	dst = appendField(dst, `,"route":`, rec.Route)
	dst = appendField(dst, `,"path":`, rec.Path)
	dst = appendField(dst, `,"pipeline_id":`, rec.PipelineID)
	dst = appendField(dst, `,"run_id":`, rec.RunID)
	dst = appendField(dst, `,"action":`, rec.Action)
	dst = append(dst, `,"outcome":`...)
	dst = jsonstr.Append(dst, rec.Outcome)
	if rec.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(rec.Status), 10)
	}
	dst = appendField(dst, `,"detail":`, rec.Detail)
	if len(details) > 0 {
		dst = append(dst, `,"details":`...)
		dst = append(dst, details...)
	}
	if rec.Intent != 0 {
		dst = append(dst, `,"intent":`...)
		dst = strconv.AppendUint(dst, rec.Intent, 10)
	}
	dst = append(dst, `,"prev":"`...)
	dst = append(dst, prev[:]...)
	dst = append(dst, '"')
	h := cs.sum(dst[start:])
	if cs.keyed() {
		dst = append(dst, macPrefix...)
	} else {
		dst = append(dst, hashPrefix...)
	}
	dst = append(dst, h[:]...)
	return append(dst, "\"}\n"...), h
}

func appendField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	return jsonstr.Append(append(dst, name...), v)
}

// ErrKeyNeeded is returned for a keyed record read without the chain key.
var ErrKeyNeeded = errors.New("the chain is keyed (its records end with a \"mac\" field): its key is needed to verify it")

// decode parses one line, checking that its hash matches its content; keyed
// says whether the line's hash is a MAC, which needs cs to be keyed (with
// the right key).
func decode(line []byte, cs *chainSum) (rec Record, hash string, keyed bool, err error) {
	n := len(line)
	if n < len(hashPrefix)+hashLen+3 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return rec, "", false, errors.New("not an audit record (no hash at the end of the line)")
	}
	hexStart := n - 2 - hashLen
	var body []byte
	switch {
	case string(line[hexStart-len(hashPrefix):hexStart]) == hashPrefix:
		body = line[:hexStart-len(hashPrefix)]
	case string(line[hexStart-len(macPrefix):hexStart]) == macPrefix:
		body, keyed = line[:hexStart-len(macPrefix)], true
	default:
		return rec, "", false, errors.New("not an audit record (no hash at the end of the line)")
	}
	hash = string(line[hexStart : n-2])
	switch {
	case keyed && !cs.keyed():
		return rec, hash, true, ErrKeyNeeded
	case keyed:
		want := cs.sum(body)
		if !hmac.Equal(want[:], line[hexStart:n-2]) {
			return rec, hash, true, errors.New("its content does not match its MAC (edited, or verified with another key)")
		}
	default:
		want := (*chainSum)(nil).sum(body)
		if string(want[:]) != hash {
			return rec, hash, false, errors.New("its content does not match its hash (edited)")
		}
	}
	if err := json.Unmarshal(append(append([]byte(nil), body...), '}'), &rec); err != nil {
		return rec, hash, keyed, fmt.Errorf("not valid JSON: %v", err)
	}
	return rec, hash, keyed, nil
}
