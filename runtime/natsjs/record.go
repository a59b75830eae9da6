// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/taskwire/taskwire/runtime/driver"
)

// recordFormat is the version of the stored run records this package
// writes. Format 2 keeps large values and map element outputs out of the
// record (see values.go) and a map task's done elements as a bit set;
// records of format 1 (no "format" field: every value inline, element
// outputs in "results", done elements as a list of booleans) are read as
// well, and written in format 2 at their next change.
const recordFormat = 2

// storedRecord is a RunRecord as this store writes it: its values split
// into the inline ones and references, its tasks as storedTasks. The
// fields here hide the RunRecord fields of the same JSON name.
type storedRecord struct {
	*driver.RunRecord
	Format int                        `json:"format,omitempty"`
	Values map[string]json.RawMessage `json:"values"`
	Refs   map[string]valueRef        `json:"refs,omitempty"`
	Tasks  []storedTask               `json:"tasks"`
}

// storedTask is a TaskRecord as this store writes it.
type storedTask struct {
	*driver.TaskRecord
	ElemDone bitset `json:"elem_done,omitempty"`
	// Results is read from records of format 1 only.
	Results []driver.Value `json:"results,omitempty"`
}

// encodeRecord returns the stored form of rec, first writing out of line
// what the record does not hold: values over inlineMax (and the largest
// others while the inline ones exceed inlineBudget), and the element
// outputs its transition recorded. A value that cannot be kept fails with
// an error matching driver.Deterministic.
//
// kept, when not nil, holds the element outputs written by an earlier
// try of the same update (a try whose swap failed), which are not
// written again.
func (s *Store) encodeRecord(ctx context.Context, rec *driver.RunRecord, kept map[string]bool) ([]byte, error) {
	sr := storedRecord{RunRecord: rec, Format: recordFormat, Values: make(map[string]json.RawMessage, len(rec.Values))}
	inline := 0
	for name, v := range rec.Values {
		b, ref, err := s.vals.encode(ctx, rec.ID, name, v)
		if err != nil {
			return nil, err
		}
		if ref != nil {
			sr.ref(name, *ref)
			continue
		}
		sr.Values[name] = b
		inline += len(b)
	}
	if inline > inlineBudget {
		names := make([]string, 0, len(sr.Values))
		for name := range sr.Values {
			names = append(names, name)
		}
		slices.SortFunc(names, func(a, b string) int { return len(sr.Values[b]) - len(sr.Values[a]) })
		for _, name := range names {
			if inline <= inlineBudget {
				break
			}
			b := sr.Values[name]
			ref, err := s.vals.put(ctx, rec.ID, b, rec.Values[name])
			if err != nil {
				return nil, err
			}
			delete(sr.Values, name)
			sr.ref(name, *ref)
			inline -= len(b)
		}
	}
	sr.Tasks = make([]storedTask, len(rec.Tasks))
	for i := range rec.Tasks {
		tr := &rec.Tasks[i]
		if err := s.keepElements(ctx, rec.ID, tr, kept); err != nil {
			return nil, err
		}
		sr.Tasks[i] = storedTask{TaskRecord: tr, ElemDone: packBits(tr.ElemDone)}
	}
	out, ok := appendRecord(make([]byte, 0, 256+128*len(sr.Tasks)+inline), &sr)
	if !ok { // json.Marshal says what it refuses
		var err error
		if out, err = json.Marshal(&sr); err != nil {
			return nil, fmt.Errorf("natsjs: run %s: %v: %w", rec.ID, err, driver.ErrEncode)
		}
	}
	if limit := s.maxRecord(); int64(len(out)) > limit {
		return nil, fmt.Errorf("the record of run %s is %s, over the %s the NATS server takes in one message: %w",
			rec.ID, sizeText(int64(len(out))), sizeText(limit), driver.ErrValueTooLarge)
	}
	return out, nil
}

func (sr *storedRecord) ref(name string, ref valueRef) {
	if sr.Refs == nil {
		sr.Refs = make(map[string]valueRef)
	}
	sr.Refs[name] = ref
}

// keepElements writes the element outputs of map task tr that its record
// does not hold: those of its last transition (Fresh), and, for a record
// read in format 1, every done element of Results, which format 2 drops.
func (s *Store) keepElements(ctx context.Context, runID string, tr *driver.TaskRecord, kept map[string]bool) error {
	put := func(e driver.Element) error {
		key := elementKey(runID, tr.Name, e.Index)
		if kept[key] {
			return nil
		}
		if err := s.vals.putElement(ctx, runID, tr.Name, e); err != nil {
			return err
		}
		if kept != nil {
			kept[key] = true
		}
		return nil
	}
	if tr.Results != nil {
		for k, done := range tr.ElemDone {
			if done && k < len(tr.Results) {
				if err := put(driver.Element{Index: k, Value: tr.Results[k]}); err != nil {
					return err
				}
			}
		}
	}
	for _, e := range tr.Fresh {
		if err := put(e); err != nil {
			return err
		}
	}
	return nil
}

// hasFresh reports whether a transition recorded element outputs for the
// store to keep.
func hasFresh(rec *driver.RunRecord) bool {
	for i := range rec.Tasks {
		if len(rec.Tasks[i].Fresh) > 0 || rec.Tasks[i].Results != nil {
			return true
		}
	}
	return false
}

// maxRecord is the largest record the server takes, with room for the
// message's headers.
func (s *Store) maxRecord() int64 {
	if s.nc == nil {
		return 1 << 20
	}
	return max(s.nc.MaxPayload()-4096, 64<<10)
}

// decodeRecord reads a stored record of either format. Its values kept out
// of line are deferred Values, fetched when read; its map tasks have nil
// Results, their element outputs being kept by the store.
func (s *Store) decodeRecord(id string, data []byte) (*driver.RunRecord, error) {
	rec := &driver.RunRecord{}
	sr := storedRecord{RunRecord: rec}
	if !readRecord(data, &sr) { // encoding/json reads the rest, or says what is wrong
		rec = &driver.RunRecord{}
		sr = storedRecord{RunRecord: rec}
		if err := json.Unmarshal(data, &sr); err != nil {
			return nil, fmt.Errorf("natsjs: run %s: %w", id, err)
		}
	}
	if sr.Format > recordFormat {
		return nil, fmt.Errorf("natsjs: run %s: record format %d is newer than this taskwire's (%d): upgrade this process", id, sr.Format, recordFormat)
	}
	rec.Values = make(map[string]driver.Value, len(sr.Values)+len(sr.Refs))
	for name, raw := range sr.Values {
		rec.Values[name] = driver.RawJSON(raw)
	}
	for name, ref := range sr.Refs {
		rec.Values[name] = s.vals.deferred(rec.ID, ref)
	}
	rec.Tasks = make([]driver.TaskRecord, len(sr.Tasks))
	for i, st := range sr.Tasks {
		if st.TaskRecord != nil {
			rec.Tasks[i] = *st.TaskRecord
		}
		rec.Tasks[i].ElemDone = st.ElemDone.bools(rec.Tasks[i].Items)
		rec.Tasks[i].Results = st.Results
	}
	return rec, nil
}

// bitset holds a map task's done elements, bit i for element i: 1,250
// bytes for 10,000 elements, where a JSON list of booleans takes 55,000.
// It is written as a base64 string and read from that or, in records of
// format 1, from a list of booleans.
type bitset []byte

func packBits(bs []bool) bitset {
	if bs == nil {
		return nil
	}
	b := make(bitset, (len(bs)+7)/8)
	for i, set := range bs {
		if set {
			b[i/8] |= 1 << (i % 8)
		}
	}
	if len(b) == 0 {
		return bitset{} // an empty, not absent, set
	}
	return b
}

// bools returns the first n bits of b; nil when b is.
func (b bitset) bools(n int) []bool {
	if b == nil {
		return nil
	}
	out := make([]bool, n)
	for i := range out {
		if i/8 < len(b) {
			out[i] = b[i/8]&(1<<(i%8)) != 0
		}
	}
	return out
}

// MarshalJSON writes b as a base64 string.
func (b bitset) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// UnmarshalJSON reads a base64 string, or a list of booleans.
func (b *bitset) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	if len(data) > 0 && data[0] == '[' {
		var bs []bool
		if err := json.Unmarshal(data, &bs); err != nil {
			return err
		}
		*b = packBits(bs)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("done elements: %w", err)
	}
	*b = raw
	return nil
}
