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
// who can rewrite the whole file can also recompute the chain, so keep the
// last hash (Logger.Head, or what Verify prints) somewhere the writer of the
// log cannot change.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// hashSuffix ends every line: `,"hash":"<64 hex digits>"}`.
const (
	hashPrefix = `,"hash":"`
	hashLen    = 64
	suffixLen  = len(hashPrefix) + hashLen + len(`"}`)
)

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
// before the hash field, so verification never depends on re-encoding.
func appendRecord(dst []byte, rec *Record, details []byte, prev *hexHash) ([]byte, hexHash) {
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
	sum := sha256.Sum256(dst[start:])
	var h hexHash
	hex.Encode(h[:], sum[:])
	dst = append(dst, hashPrefix...)
	dst = append(dst, h[:]...)
	return append(dst, "\"}\n"...), h
}

func appendField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	return jsonstr.Append(append(dst, name...), v)
}

// decode parses one line, checking that its hash matches its content.
func decode(line []byte) (rec Record, hash string, err error) {
	if len(line) < suffixLen+2 || string(line[len(line)-suffixLen:len(line)-suffixLen+len(hashPrefix)]) != hashPrefix || !strings.HasSuffix(string(line), `"}`) {
		return rec, "", errors.New("not an audit record (no hash at the end of the line)")
	}
	hash = string(line[len(line)-hashLen-2 : len(line)-2])
	body := line[:len(line)-suffixLen]
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != hash {
		return rec, hash, errors.New("its content does not match its hash (edited)")
	}
	if err := json.Unmarshal(append(append([]byte(nil), body...), '}'), &rec); err != nil {
		return rec, hash, fmt.Errorf("not valid JSON: %v", err)
	}
	return rec, hash, nil
}
