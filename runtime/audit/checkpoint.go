// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// TypeRecovery is the type of the record Open writes after cutting a torn
// last line off the file: the torn record's sequence number (TornSeq in
// its details) is never given to another record, and the recovery record,
// which takes the number after it, keeps what was cut as evidence.
const TypeRecovery = "recovery"

// OutcomeRecovered is the outcome of a recovery record.
const OutcomeRecovered = "recovered"

// MaxTornEvidence bounds the torn bytes a recovery record keeps (base64 in
// its details); their length and SHA-256 are always kept.
const MaxTornEvidence = 16 << 10

// Checkpoint syncs the log and emits a checkpoint of its last record to the
// Observer, at once; the Logger does it by itself as Options.CheckpointInterval
// says. A sync error makes the log fail closed, as Sync's does.
func (l *Logger) Checkpoint() (Checkpoint, error) {
	l.fileMu.Lock()
	l.mu.Lock()
	if l.closed && l.file == nil {
		l.mu.Unlock()
		l.fileMu.Unlock()
		return Checkpoint{}, ErrClosed
	}
	cp := l.checkpointOf(l.seq, l.head)
	l.mu.Unlock()
	// The checkpoint names only a durable record: a crash of the machine
	// must not lose a record a checkpoint vouches for.
	err := l.syncLocked(true)
	l.fileMu.Unlock()
	if err != nil {
		return Checkpoint{}, err
	}
	l.emitCheckpoint(cp)
	return cp, nil
}

// checkpointOf returns the checkpoint of record seq with hash head, the
// last written; l.mu is held.
func (l *Logger) checkpointOf(seq uint64, head hexHash) Checkpoint {
	cp := Checkpoint{File: l.path, Seq: seq, Hash: string(head[:]), Time: l.opts.Now().UTC()}
	if seq == 0 {
		cp.Hash = GenesisHash
	}
	if l.size == 0 && l.lastFile != "" {
		cp.File = l.lastFile
	}
	if len(l.opts.Key) > 0 {
		cp.MAC = cp.macOf(l.opts.Key)
	}
	return cp
}

// emitCheckpoint tells the Observer about cp.
func (l *Logger) emitCheckpoint(cp Checkpoint) {
	l.mu.Lock()
	l.cpSeq, l.cpStarted = cp.Seq, true
	l.mu.Unlock()
	if o, ok := l.opts.Observer.(CheckpointObserver); ok {
		o.Checkpointed(cp)
	}
}

// checkpointLoop emits a checkpoint every CheckpointInterval in which
// records were written.
func (l *Logger) checkpointLoop() {
	defer close(l.cpDone)
	t := time.NewTicker(l.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.cpStop:
			return
		}
		l.mu.Lock()
		moved := l.seq != l.cpSeq || !l.cpStarted
		failed := l.err != nil
		l.mu.Unlock()
		if moved && !failed {
			_, _ = l.Checkpoint() // an error is kept in l.err: later Logs fail
		}
	}
}

// writeRecovery is Open's answer to a torn last line: a line that is a
// whole record short of its newline is completed; otherwise the recovery
// record takes the number after the torn record's and says what was cut.
// Either is synced before Open returns.
func (l *Logger) writeRecovery(torn []byte) error {
	n := l.seq + 1 // the number the torn record had
	var buf []byte
	head := l.head
	if rec, h, _, err := decode(torn, l.sum); err == nil && rec.Seq == n && rec.Prev == string(l.head[:]) {
		buf = append(append(buf, torn...), '\n')
		copy(head[:], h)
	} else {
		sum := sha256.Sum256(torn)
		kept := torn[:min(len(torn), MaxTornEvidence)]
		details := map[string]any{
			"torn_seq":    n,
			"torn_bytes":  len(torn),
			"torn_sha256": hex.EncodeToString(sum[:]),
			"torn_base64": base64.StdEncoding.EncodeToString(kept),
		}
		if len(kept) < len(torn) {
			details["torn_base64_bytes"] = len(kept)
		}
		d, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("audit: encoding the recovery record: %w", err)
		}
		rec := Record{Seq: n + 1, Time: l.opts.Now().UTC(), Type: TypeRecovery, Outcome: OutcomeRecovered,
			Detail: fmt.Sprintf("record %d was torn by a crash in the middle of its write; its bytes were cut from %s at restart and are kept here", n, l.path)}
		buf, head = appendRecord(nil, &rec, d, &l.head, l.sum)
		n++
	}
	if _, err := l.file.Write(buf); err != nil {
		return fmt.Errorf("audit: writing %s: %w", l.path, err)
	}
	if err := syncData(l.file); err != nil {
		return fmt.Errorf("audit: syncing %s: %w", l.path, err)
	}
	l.opts.Observer.Written(1)
	l.size += int64(len(buf))
	l.seq, l.head = n, head
	return nil
}
