// SPDX-License-Identifier: Apache-2.0

package audit

import (
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

// Error formats the problem as FILE:LINE: REASON.
func (p *Problem) Error() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// Summary is what Verify read.
type Summary struct {
	Records uint64
	First   uint64 // sequence number of the first record read
	Head    string // hash of the last record
	// Intents counts the intent records; Open lists those no request
	// record answers: the server stopped (or crashed) while serving them,
	// so whether their action happened is for the rest of the system to say.
	Intents uint64
	Open    []OpenIntent
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
func Verify(files ...string) (Summary, error) { return verify(false, files) }

// VerifyPartial is Verify for a chain whose oldest files were removed on
// purpose: the first record read may be any record, and is trusted, as are
// request records answering intents before it.
func VerifyPartial(files ...string) (Summary, error) { return verify(true, files) }

func verify(partial bool, files []string) (Summary, error) {
	var sum Summary
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
		for sc.Scan() {
			line++
			rec, hash, err := decode(sc.Bytes())
			bad := func(reason string, args ...any) (Summary, error) {
				f.Close()
				return sum, &Problem{File: name, Line: line, Seq: rec.Seq, Reason: fmt.Sprintf(reason, args...)}
			}
			switch {
			case err != nil:
				return bad("record %d: %v", seq+1, err)
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
			if head == "" {
				sum.First = rec.Seq
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
	sum.Head = head
	for _, in := range open {
		sum.Open = append(sum.Open, in)
	}
	sort.Slice(sum.Open, func(i, j int) bool { return sum.Open[i].Seq < sum.Open[j].Seq })
	return sum, nil
}
