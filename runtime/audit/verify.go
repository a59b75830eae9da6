// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"errors"
	"fmt"
	"os"
	"sort"
)

// Problem is the first break Verify finds in a chain.
type Problem struct {
	File   string
	Line   int
	Seq    uint64 // the record's sequence number, when readable
	Reason string
}

// Error formats the problem as FILE:LINE: REASON (FILE: REASON when it is
// about no line, such as an empty log).
func (p *Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

// Summary is what Verify read.
type Summary struct {
	Records uint64
	First   uint64 // sequence number of the first record read
	Last    uint64 // sequence number of the last record read
	Head    string // hash of the last record
	// Intents counts the intent records; Open lists those no request
	// record answers: the server stopped (or crashed) while serving them,
	// so whether their action happened is for the rest of the system to say.
	Intents uint64
	Open    []OpenIntent
	// KeyedFrom is the sequence number of the first keyed record (0: none
	// is); records before it were written before the chain had a key.
	KeyedFrom uint64
	// Recoveries lists the recovery records: each says a record was torn
	// by a crash and cut at restart, and keeps its bytes.
	Recoveries []Recovery
	// Checkpoints is how many checkpoints the chain was checked against.
	Checkpoints int
}

// Recovery is a recovery record (TypeRecovery) that Verify read.
type Recovery struct {
	File      string
	Line      int
	Seq       uint64
	TornSeq   uint64 // the number of the torn record
	TornBytes int64  // how many bytes were cut
}

// VerifyOptions say what VerifyWith checks besides the chain itself.
type VerifyOptions struct {
	// Partial accepts a chain whose first record is not record 1 (older
	// rotated files removed on purpose), as VerifyPartial does.
	Partial bool
	// Key is the chain key. With it every keyed record's MAC is checked,
	// and a chain with no keyed record, or with a plain-hash record after
	// a keyed one, is refused: it was recomputed without the key. Without
	// it a keyed record is an error matching ErrKeyNeeded.
	Key []byte
	// Checkpoints must each name a record of the chain, with its hash: a
	// chain that ends before one was cut (tail truncated), and one whose
	// record has another hash was rewritten. With Key, a checkpoint that
	// has a MAC must match it.
	Checkpoints []Checkpoint
	// RefuseEmpty makes a chain of no records a problem. A checkpoint
	// past record 0 refuses an empty chain either way.
	RefuseEmpty bool
}

// OpenIntent is an intent record without its request record.
type OpenIntent struct {
	File      string
	Line      int
	Seq       uint64
	RequestID string
	Route     string
}

// Verify checks the chain across files given in chain order (rotated files
// first, as Files lists them), from its first record on: the first record
// must be record 1. It returns the first record that was edited (its hash
// does not match), inserted or deleted (its sequence number or previous hash
// does not follow the record before), as a *Problem. A request record that
// names an intent must name an earlier intent record of the same request
// that no other record answered.
func Verify(files ...string) (Summary, error) { return VerifyWith(VerifyOptions{}, files...) }

// VerifyPartial is Verify for a chain whose oldest files were removed on
// purpose: the first record read may be any record, and is trusted, as are
// request records answering intents before it.
func VerifyPartial(files ...string) (Summary, error) {
	return VerifyWith(VerifyOptions{Partial: true}, files...)
}

// VerifyWith is Verify with the checks of opts: a chain key, checkpoints,
// an empty log refused. A recovery record is no break: it takes the number
// after the torn record's, which no record has.
func VerifyWith(opts VerifyOptions, files ...string) (Summary, error) {
	var sum Summary
	partial := opts.Partial
	cs := newChainSum(opts.Key)
	for _, cp := range opts.Checkpoints {
		if len(opts.Key) > 0 && cp.MAC != "" {
			if err := cp.CheckMAC(opts.Key); err != nil {
				return sum, err
			}
		}
	}
	want := map[uint64]string{} // checkpoints: seq -> hash
	for _, cp := range opts.Checkpoints {
		if cp.Seq > 0 {
			want[cp.Seq] = cp.Hash
		}
	}
	torn := map[uint64]uint64{} // torn record -> its recovery record
	lastFile, lastLine := "", 0
	head := ""
	var seq uint64
	open := map[uint64]OpenIntent{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return sum, err
		}
		sc := newScanner(f)
		line := 0
		lastFile, lastLine = name, 0
		for sc.Scan() {
			line++
			lastLine = line
			rec, hash, keyed, err := decode(sc.Bytes(), cs)
			bad := func(reason string, args ...any) (Summary, error) {
				f.Close()
				return sum, &Problem{File: name, Line: line, Seq: rec.Seq, Reason: fmt.Sprintf(reason, args...)}
			}
			// A recovery record follows the record before the torn one.
			tornSeq := recoveryOf(&rec)
			if tornSeq != 0 && tornSeq+1 == rec.Seq && (head == "" && tornSeq == 1 || head != "" && tornSeq == seq+1) {
				torn[tornSeq] = rec.Seq
				rec.Seq-- // check it as the record after the one before
			}
			switch {
			case errors.Is(err, ErrKeyNeeded):
				f.Close()
				return sum, fmt.Errorf("%s:%d: record %d: %w (set it in an environment variable and pass --key-env NAME)", name, line, seq+1, err)
			case err != nil:
				return bad("record %d: %v", seq+1, err)
			case cs.keyed() && !keyed && sum.KeyedFrom != 0:
				return bad("record %d has a plain hash after keyed records from record %d: the chain was recomputed without the key", rec.Seq, sum.KeyedFrom)
			case head == "" && rec.Seq == 1 && rec.Prev != GenesisHash:
				return bad("record 1 does not start a chain")
			case head == "" && rec.Seq != 1 && !partial:
				return bad("the chain starts at record %d: records 1 to %d are missing (give the rotated files too, oldest first, or verify a partial chain on purpose)", rec.Seq, rec.Seq-1)
			case head != "" && rec.Seq != seq+1 && rec.Seq > seq:
				return bad("record %d follows record %d: %d record(s) deleted before it", rec.Seq, seq, rec.Seq-seq-1)
			case head != "" && rec.Seq != seq+1:
				return bad("record numbered %d follows record %d: inserted or reordered", rec.Seq, seq)
			case head != "" && rec.Prev != head:
				return bad("record %d does not chain to record %d (inserted, or the record before was replaced)", rec.Seq, seq)
			}
			if tornSeq != 0 && torn[tornSeq] != 0 {
				rec.Seq++
				sum.Recoveries = append(sum.Recoveries, Recovery{File: name, Line: line, Seq: rec.Seq, TornSeq: tornSeq, TornBytes: detailInt(&rec, "torn_bytes")})
			}
			if head == "" {
				sum.First = rec.Seq
			}
			if keyed && sum.KeyedFrom == 0 {
				sum.KeyedFrom = rec.Seq
			}
			if h, ok := want[rec.Seq]; ok {
				if h != hash {
					return bad("record %d's hash is %s, the checkpoint says %s: the log was rewritten after the checkpoint", rec.Seq, hash, h)
				}
				delete(want, rec.Seq)
				sum.Checkpoints++
			}
			switch {
			case rec.Type == TypeIntent:
				sum.Intents++
				open[rec.Seq] = OpenIntent{File: name, Line: line, Seq: rec.Seq, RequestID: rec.RequestID, Route: rec.Route}
			case rec.Intent != 0:
				in, ok := open[rec.Intent]
				switch {
				case ok && in.RequestID == rec.RequestID:
					delete(open, rec.Intent)
				case !ok && partial && rec.Intent < sum.First:
					// Its intent is in a file left out on purpose.
				case !ok && rec.Intent >= rec.Seq:
					return bad("record %d names intent %d, which does not come before it", rec.Seq, rec.Intent)
				case !ok:
					return bad("record %d names intent %d, which is not an unanswered intent record", rec.Seq, rec.Intent)
				default:
					return bad("record %d of request %q names intent %d, which is request %q's", rec.Seq, rec.RequestID, rec.Intent, in.RequestID)
				}
			}
			head, seq = hash, rec.Seq
			sum.Records++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return sum, fmt.Errorf("%s: %w", name, err)
		}
	}
	sum.Head, sum.Last = head, seq
	if p := endProblems(&opts, &sum, want, torn, seq, lastFile, lastLine); p != nil {
		return sum, p
	}
	for _, in := range open {
		sum.Open = append(sum.Open, in)
	}
	sort.Slice(sum.Open, func(i, j int) bool { return sum.Open[i].Seq < sum.Open[j].Seq })
	return sum, nil
}

// endProblems checks, once the chain is read, what only its end can say:
// checkpoints it never reached, an empty log, a chain that is not keyed.
func endProblems(opts *VerifyOptions, sum *Summary, want map[uint64]string, torn map[uint64]uint64, last uint64, file string, line int) *Problem {
	for _, cp := range opts.Checkpoints {
		if _, pending := want[cp.Seq]; cp.Seq > 0 && !pending {
			continue // found
		}
		switch {
		case cp.Seq == 0: // the log was empty then: anything follows
			sum.Checkpoints++
			continue
		case sum.Records == 0:
			return &Problem{File: file, Reason: fmt.Sprintf("the log is empty, but a checkpoint says it held record %d: the log was cut or replaced", cp.Seq)}
		case torn[cp.Seq] != 0:
			return &Problem{File: file, Line: line, Seq: cp.Seq, Reason: fmt.Sprintf("the checkpoint names record %d, which was torn by a crash (recovery record %d): the checkpoint did not come from this log's writer", cp.Seq, torn[cp.Seq])}
		case last < cp.Seq:
			return &Problem{File: file, Line: line, Seq: last, Reason: fmt.Sprintf("tail truncated: log ends at %d, checkpoint says %d", last, cp.Seq)}
		default:
			return &Problem{File: file, Line: line, Seq: cp.Seq, Reason: fmt.Sprintf("the checkpoint names record %d, before the first record read (%d): give the older rotated files too", cp.Seq, sum.First)}
		}
	}
	switch {
	case sum.Records == 0 && opts.RefuseEmpty:
		return &Problem{File: file, Reason: "the log is empty: no record to verify (a new log, or one that was cut; allow an empty log on purpose)"}
	case sum.Records > 0 && len(opts.Key) > 0 && sum.KeyedFrom == 0:
		return &Problem{File: file, Line: line, Seq: last, Reason: "no record is keyed: the chain was written without the key, or recomputed without it"}
	}
	return nil
}

// recoveryOf returns the torn record's number a recovery record names (0:
// rec is not one).
func recoveryOf(rec *Record) uint64 {
	if rec.Type != TypeRecovery {
		return 0
	}
	return uint64(detailInt(rec, "torn_seq"))
}

// detailInt returns a whole-number detail of rec (0 when absent).
func detailInt(rec *Record, name string) int64 {
	v, _ := rec.Details[name].(float64)
	if v < 0 || v > 1<<53 {
		return 0
	}
	return int64(v)
}
