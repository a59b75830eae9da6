// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinKeyLen is the shortest chain key Open accepts, in bytes: a key of
// `taskwire keygen` is longer.
const MinKeyLen = 32

// DefaultCheckpointInterval is how often a Logger emits a checkpoint unless
// Options.CheckpointInterval says otherwise.
const DefaultCheckpointInterval = time.Minute

// KeyFromEnv returns the chain key held by the environment variable name
// (nil when name is empty: the chain is not keyed). A variable that is
// unset, empty or shorter than MinKeyLen is an error that says how to make
// a key: a keyed log must never start unkeyed.
func KeyFromEnv(name string, getenv func(string) string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	v := getenv(name)
	switch {
	case v == "":
		return nil, fmt.Errorf("audit: the chain key variable %s is not set; make a key with `taskwire keygen` and put it in %s", name, name)
	case len(v) < MinKeyLen:
		return nil, fmt.Errorf("audit: the chain key in %s is %d bytes, it must be at least %d; make one with `taskwire keygen`", name, len(v), MinKeyLen)
	}
	return []byte(v), nil
}

// Checkpoint names the last durable record of a log at a moment: keep it
// where the writer of the log cannot change it, and check the log against
// it later (VerifyWith). A log without record Seq, or whose record Seq has
// another hash, was cut or rewritten.
type Checkpoint struct {
	File string    // the file that held record Seq when the checkpoint was taken
	Seq  uint64    // the record's sequence number (0: the log was empty)
	Hash string    // the record's hash (or MAC, in a keyed chain)
	Time time.Time // when the checkpoint was taken
	// MAC is the HMAC-SHA256 of the checkpoint's fields with the chain
	// key, as hex digits; empty for an unkeyed chain.
	MAC string
}

// String returns the checkpoint as SEQ:HASH, the form ParseCheckpoint and
// `taskwire audit verify --checkpoint` take.
func (c Checkpoint) String() string { return strconv.FormatUint(c.Seq, 10) + ":" + c.Hash }

// macOf returns the MAC of the checkpoint's fields with key.
func (c Checkpoint) macOf(key []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "taskwire audit checkpoint 1\n%s\n%d\n%s\n%s", c.File, c.Seq, c.Hash, c.Time.UTC().Format(time.RFC3339Nano))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckMAC reports whether the checkpoint's MAC was made with key. A
// checkpoint without a MAC fails: only a keyed chain's checkpoints have one.
func (c Checkpoint) CheckMAC(key []byte) error {
	if c.MAC == "" {
		return errors.New("audit: the checkpoint has no mac (it was not taken from a keyed chain, or its mac was left out)")
	}
	if !hmac.Equal([]byte(c.macOf(key)), []byte(strings.ToLower(c.MAC))) {
		return errors.New("audit: the checkpoint's mac does not match: it was forged or edited, or the key is another one")
	}
	return nil
}

// ParseCheckpoint reads a checkpoint written as SEQ:HASH, or as the
// server's log line of it ("audit checkpoint"), in slog's JSON or text
// form, with its fields file, seq, hash, checkpoint_time and mac.
func ParseCheckpoint(s string) (Checkpoint, error) {
	s = strings.TrimSpace(s)
	var c Checkpoint
	fields := map[string]string{}
	switch {
	case strings.HasPrefix(s, "{"):
		var raw map[string]any
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return c, fmt.Errorf("audit: checkpoint: not a JSON log line: %v", err)
		}
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				fields[k] = v
			case float64:
				fields[k] = strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
	case strings.Contains(s, "seq="):
		var err error
		if fields, err = logfmt(s); err != nil {
			return c, err
		}
	default:
		seq, h, ok := strings.Cut(s, ":")
		if !ok {
			return c, fmt.Errorf("audit: checkpoint %q: write SEQ:HASH, or give the server's \"audit checkpoint\" log line", s)
		}
		fields["seq"], fields["hash"] = seq, h
	}
	seq, err := strconv.ParseUint(fields["seq"], 10, 64)
	if err != nil {
		return c, fmt.Errorf("audit: checkpoint: the sequence number %q is not a whole number", fields["seq"])
	}
	c.Seq, c.Hash, c.File, c.MAC = seq, strings.ToLower(fields["hash"]), fields["file"], fields["mac"]
	if _, err := hex.DecodeString(c.Hash); err != nil || len(c.Hash) != hashLen {
		return c, fmt.Errorf("audit: checkpoint: the hash %q is not 64 hex digits", fields["hash"])
	}
	if t := fields["checkpoint_time"]; t != "" {
		if c.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return c, fmt.Errorf("audit: checkpoint: checkpoint_time %q is not an RFC 3339 time", t)
		}
	}
	return c, nil
}

// logfmt splits slog's text form (key=value, values quoted when needed).
func logfmt(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		v := rest
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("audit: checkpoint: the value of %s is not a valid quoted string", k)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		out[k] = v
		s = rest
	}
	return out, nil
}

// CheckpointObserver is an Observer that is also told about checkpoints:
// the Logger emits one when it opens, every Options.CheckpointInterval
// when records were written since the last, at each rotation and when it
// closes. Its method must be fast and safe for concurrent use.
type CheckpointObserver interface {
	Checkpointed(Checkpoint)
}
