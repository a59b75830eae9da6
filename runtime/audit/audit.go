// SPDX-License-Identifier: Apache-2.0

// Package audit writes a tamper-evident, durable audit log: one JSON line per
// record, each carrying its sequence number and the SHA-256 of the record
// before it, so that editing, inserting or deleting a record breaks the chain
// (Verify finds where). Records are written and synced to disk before Log
// returns, with group commit: concurrent callers share one fsync.
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
	"strings"
	"time"
)

// Record is one audit record. Fields that do not apply are omitted.
// Credentials never appear: a principal is named by its key id or token subject.
type Record struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Type       string         `json:"type"` // "request", or a custom event's type
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
	Prev       string         `json:"prev"` // hash of the previous record; GenesisHash for the first
}

// GenesisHash is the Prev of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashSuffix ends every line: `,"hash":"<64 hex digits>"}`.
const (
	hashPrefix = `,"hash":"`
	hashLen    = 64
	suffixLen  = len(hashPrefix) + hashLen + len(`"}`)
)

// encode returns the line of rec (without its newline) and its hash. The
// hash covers the line's bytes before the hash field, so verification never
// depends on re-encoding.
func encode(rec *Record) (line []byte, hash string, err error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, "", fmt.Errorf("audit: encoding record: %w", err)
	}
	sum := sha256.Sum256(body[:len(body)-1])
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(body)+suffixLen)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashPrefix...)
	line = append(line, hash...)
	line = append(line, `"}`...)
	return line, hash, nil
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
