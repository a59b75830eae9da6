// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/taskwire/taskwire/runtime/driver"
)

// This file holds the codec of the two documents every task passes
// through, a run's stored record and a task message: written and read by
// hand, without reflection, as the profiles of a worker under load found
// encoding/json's reflection and its second pass over the input a third
// of the worker's time. It is an accelerator, not a second format: what it
// writes is, byte for byte, what json.Marshal writes (values compacted,
// HTML characters escaped alike), and what it reads it reads as
// json.Unmarshal does. A record of another shape (format 1, values kept
// out of line, fields it does not know, escapes it does not decode)
// is left to encoding/json, which stays the reference; the tests hold the
// two to each other on generated and fuzzed documents.

// appendRecord appends the JSON of sr to dst as json.Marshal(sr) writes it,
// or reports false for a record it leaves to json.Marshal: one with a time
// that json.Marshal refuses or a value that is not valid JSON, so that the
// error is json.Marshal's own.
func appendRecord(dst []byte, sr *storedRecord) ([]byte, bool) {
	r := sr.RunRecord
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"pipeline_id":`...)
	dst = appendString(dst, r.PipelineID)
	dst = appendOptString(dst, `,"idempotency_key":`, r.IdempotencyKey)
	dst = appendOptString(dst, `,"input_hash":`, r.InputHash)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(r.Status))
	dst = appendOptString(dst, `,"error":`, r.Error)
	dst = appendOptString(dst, `,"error_id":`, r.ErrorID)
	if r.TimedOut {
		dst = append(dst, `,"timed_out":true`...)
	}
	var ok bool
	dst = append(dst, `,"created_at":`...)
	if dst, ok = appendTime(dst, r.CreatedAt); !ok {
		return dst, false
	}
	for _, t := range [...]struct {
		key string
		t   time.Time
	}{{`,"started_at":`, r.StartedAt}, {`,"finished_at":`, r.FinishedAt}, {`,"deadline":`, r.Deadline}} {
		if !t.t.IsZero() {
			dst = append(dst, t.key...)
			if dst, ok = appendTime(dst, t.t); !ok {
				return dst, false
			}
		}
	}
	dst = appendOptString(dst, `,"rerun_of":`, r.RerunOf)
	if !r.Owner.IsZero() {
		dst = append(dst, `,"owner":{"method":`...)
		dst = appendString(dst, r.Owner.Method)
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, r.Owner.ID)
		dst = appendOptString(dst, `,"issuer":`, r.Owner.Issuer)
		dst = append(dst, '}')
	}
	if r.Generation != 0 {
		dst = append(dst, `,"generation":`...)
		dst = strconv.AppendInt(dst, int64(r.Generation), 10)
	}
	dst = append(dst, `,"outputs":`...)
	if r.Outputs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, name := range r.Outputs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, name)
		}
		dst = append(dst, ']')
	}
	dst = appendOptString(dst, `,"trace":`, r.Trace)
	if sr.Format != 0 {
		dst = append(dst, `,"format":`...)
		dst = strconv.AppendInt(dst, int64(sr.Format), 10)
	}
	dst = append(dst, `,"values":`...)
	if sr.Values == nil {
		dst = append(dst, "null"...)
	} else {
		names := make([]string, 0, len(sr.Values))
		for name := range sr.Values {
			names = append(names, name)
		}
		slices.Sort(names)
		dst = append(dst, '{')
		for i, name := range names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, name)
			dst = append(dst, ':')
			if dst, ok = appendRaw(dst, sr.Values[name]); !ok {
				return dst, false
			}
		}
		dst = append(dst, '}')
	}
	if len(sr.Refs) > 0 {
		b, err := json.Marshal(sr.Refs) // rare: values kept out of line
		if err != nil {
			return dst, false
		}
		dst = append(dst, `,"refs":`...)
		dst = append(dst, b...)
	}
	dst = append(dst, `,"tasks":`...)
	if sr.Tasks == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	for i := range sr.Tasks {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, ok = appendTask(dst, &sr.Tasks[i]); !ok {
			return dst, false
		}
	}
	return append(dst, "]}"...), true
}

func appendTask(dst []byte, st *storedTask) ([]byte, bool) {
	t := st.TaskRecord
	if t == nil || st.Results != nil {
		b, err := json.Marshal(st) // never written by this store
		return append(dst, b...), err == nil
	}
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, t.Name)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(t.Status))
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(t.Attempts), 10)
	dst = appendOptString(dst, `,"error":`, t.Error)
	dst = appendOptString(dst, `,"error_id":`, t.ErrorID)
	var ok bool
	if !t.StartedAt.IsZero() {
		dst = append(dst, `,"started_at":`...)
		if dst, ok = appendTime(dst, t.StartedAt); !ok {
			return dst, false
		}
	}
	if !t.FinishedAt.IsZero() {
		dst = append(dst, `,"finished_at":`...)
		if dst, ok = appendTime(dst, t.FinishedAt); !ok {
			return dst, false
		}
	}
	if t.Queued {
		dst = append(dst, `,"queued":true`...)
	}
	for _, n := range [...]struct {
		key string
		n   int
	}{{`,"items":`, t.Items}, {`,"next":`, t.Next}, {`,"done":`, t.Done}} {
		if n.n != 0 {
			dst = append(dst, n.key...)
			dst = strconv.AppendInt(dst, int64(n.n), 10)
		}
	}
	if len(st.ElemDone) > 0 {
		dst = append(dst, `,"elem_done":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, st.ElemDone)
		dst = append(dst, '"')
	}
	return append(dst, '}'), true
}

func appendOptString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, key...), s)
}

// appendString appends s as a JSON string, escaped as json.Marshal
// escapes it.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string cannot fail
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendTime appends t as time.Time.MarshalJSON does, or reports false for
// a time it refuses.
func appendTime(dst []byte, t time.Time) ([]byte, bool) {
	if t.Location() == time.UTC && t.Year() >= 0 && t.Year() <= 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"'), true
	}
	b, err := t.MarshalJSON()
	return append(dst, b...), err == nil
}

// appendRaw appends the JSON document v as json.Marshal writes a
// json.RawMessage: compacted, with HTML characters escaped.
func appendRaw(dst []byte, v json.RawMessage) ([]byte, bool) {
	if v == nil {
		return append(dst, "null"...), true
	}
	buf := bytes.NewBuffer(dst)
	n := len(dst)
	if err := json.Compact(buf, v); err != nil {
		return dst, false
	}
	out := buf.Bytes()
	if bytes.ContainsAny(out[n:], "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, out[n:])
		out = append(out[:n], esc.Bytes()...)
	}
	return out, true
}

// appendTaskMessage appends the JSON of m as json.Marshal(wireTask{m})
// writes it, without a snapshot.
func appendTaskMessage(dst []byte, m *driver.TaskMessage) []byte {
	dst = append(dst, `{"run_id":`...)
	dst = appendString(dst, m.RunID)
	dst = append(dst, `,"pipeline_id":`...)
	dst = appendString(dst, m.PipelineID)
	dst = append(dst, `,"task":`...)
	dst = appendString(dst, m.Task)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendInt(dst, int64(m.Index), 10)
	if m.Gen != 0 {
		dst = append(dst, `,"gen":`...)
		dst = strconv.AppendInt(dst, int64(m.Gen), 10)
	}
	return append(dst, '}')
}

// appendEvent appends the JSON of ev as json.Marshal writes it, for an
// event without a snapshot (Run nil) or a count of drops, as the Bus
// publishes them; it reports false for one it leaves to json.Marshal.
func appendEvent(dst []byte, ev *driver.Event) ([]byte, bool) {
	if ev.Run != nil || ev.Dropped != 0 {
		return dst, false
	}
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, string(ev.Type))
	dst = append(dst, `,"run_id":`...)
	dst = appendString(dst, ev.RunID)
	dst = append(dst, `,"pipeline_id":`...)
	dst = appendString(dst, ev.PipelineID)
	dst = appendOptString(dst, `,"task":`, ev.Task)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendInt(dst, int64(ev.Index), 10)
	if ev.Attempt != 0 {
		dst = append(dst, `,"attempt":`...)
		dst = strconv.AppendInt(dst, int64(ev.Attempt), 10)
	}
	dst = appendOptString(dst, `,"error":`, ev.Error)
	dst = appendOptString(dst, `,"error_id":`, ev.ErrorID)
	if ev.RetryIn != 0 {
		dst = append(dst, `,"retry_in":`...)
		dst = strconv.AppendInt(dst, int64(ev.RetryIn), 10)
	}
	dst = append(dst, `,"time":`...)
	dst, ok := appendTime(dst, ev.Time)
	return append(dst, '}'), ok
}

// reader reads a JSON document by hand. Its methods report false for
// anything they do not take, invalid JSON or not, which sends the document
// to encoding/json.
type reader struct {
	b []byte
	i int
}

// maxDepth bounds the nesting of a value the reader skips, as
// encoding/json bounds its own.
const maxDepth = 10000

func (p *reader) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (p *reader) next() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *reader) eat(c byte) bool {
	if p.next() == c {
		p.i++
		return true
	}
	return false
}

// end reports whether nothing but white space is left.
func (p *reader) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// object reads an object, calling field for each key with the reader at
// its value; field reads the value and returns false to give up. A key
// repeated, which json.Unmarshal would merge, gives up too.
func (p *reader) object(field func(key []byte) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	for {
		key, ok := p.key()
		if !ok || !p.eat(':') {
			return false
		}
		p.ws()
		if !field(key) {
			return false
		}
		if p.eat('}') {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

// plainString reads a string without escapes and returns its bytes, which
// alias the document.
func (p *reader) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false // json.Unmarshal replaces what is invalid
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// key reads an object's key; one with escapes is decoded by encoding/json.
func (p *reader) key() ([]byte, bool) {
	start := p.i
	if s, ok := p.plainString(); ok {
		return s, true
	}
	p.i = start
	s, ok := p.str()
	return []byte(s), ok
}

// str reads a string; one with escapes is decoded by encoding/json.
func (p *reader) str() (string, bool) {
	start := p.i
	if s, ok := p.plainString(); ok {
		return string(s), true
	}
	p.i = start
	if p.next() != '"' {
		return "", false
	}
	if !p.skip(0) {
		return "", false
	}
	var s string
	if json.Unmarshal(p.b[start:p.i], &s) != nil {
		return "", false
	}
	return s, true
}

// int reads an integer as json.Unmarshal reads one into an int: no
// fraction, no exponent.
func (p *reader) int() (int, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 18 || (n > 1 && p.b[digits] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return int(v), err == nil
}

func (p *reader) bool() (bool, bool) {
	switch {
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return true, true
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return false, true
	}
	return false, false
}

func (p *reader) null() bool {
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

// time reads a time as time.Time.UnmarshalJSON does.
func (p *reader) time(t *time.Time) bool {
	start := p.i
	if _, ok := p.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(p.b[start:p.i]) == nil
}

// raw reads any valid JSON value and returns its bytes, which alias the
// document.
func (p *reader) raw() ([]byte, bool) {
	p.ws()
	start := p.i
	if !p.skip(0) {
		return nil, false
	}
	return p.b[start:p.i:p.i], true
}

// skip reads one JSON value, checking it as json.Valid does.
func (p *reader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch p.next() {
	case '{':
		p.i++
		if p.eat('}') {
			return true
		}
		for {
			if p.next() != '"' || !p.skip(depth+1) || !p.eat(':') || !p.skip(depth+1) {
				return false
			}
			if p.eat('}') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case '[':
		p.i++
		if p.eat(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			if p.eat(']') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case '"':
		p.i++
		for p.i < len(p.b) {
			c := p.b[p.i]
			p.i++
			switch {
			case c == '"':
				return true
			case c < 0x20:
				return false
			case c == '\\':
				if p.i >= len(p.b) {
					return false
				}
				e := p.b[p.i]
				p.i++
				switch e {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if p.i+4 > len(p.b) {
						return false
					}
					for _, h := range p.b[p.i : p.i+4] {
						if !isHex(h) {
							return false
						}
					}
					p.i += 4
				default:
					return false
				}
			}
		}
		return false
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		return p.number()
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (p *reader) literal(lit string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
		p.i += len(lit)
		return true
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *reader) number() bool {
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// readRecord reads data, a stored record of format 2 with its values
// inline, into sr as json.Unmarshal would, or reports false for a record
// it leaves to json.Unmarshal. sr is then partly filled and is to be
// dropped. The values alias data.
func readRecord(data []byte, sr *storedRecord) bool {
	p := &reader{b: data}
	r := sr.RunRecord
	var seen uint32
	once := func(bit uint32) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	ok := p.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "id":
			r.ID, ok = p.str()
			return ok && once(1<<0)
		case "pipeline_id":
			r.PipelineID, ok = p.str()
			return ok && once(1<<1)
		case "idempotency_key":
			r.IdempotencyKey, ok = p.str()
			return ok && once(1<<2)
		case "input_hash":
			r.InputHash, ok = p.str()
			return ok && once(1<<3)
		case "status":
			var s string
			s, ok = p.str()
			r.Status = driver.RunStatus(s)
			return ok && once(1<<4)
		case "error":
			r.Error, ok = p.str()
			return ok && once(1<<5)
		case "error_id":
			r.ErrorID, ok = p.str()
			return ok && once(1<<6)
		case "timed_out":
			r.TimedOut, ok = p.bool()
			return ok && once(1<<7)
		case "created_at":
			return p.time(&r.CreatedAt) && once(1<<8)
		case "started_at":
			return p.time(&r.StartedAt) && once(1<<9)
		case "finished_at":
			return p.time(&r.FinishedAt) && once(1<<10)
		case "deadline":
			return p.time(&r.Deadline) && once(1<<11)
		case "rerun_of":
			r.RerunOf, ok = p.str()
			return ok && once(1<<12)
		case "owner":
			return p.owner(&r.Owner) && once(1<<13)
		case "generation":
			r.Generation, ok = p.int()
			return ok && once(1<<14)
		case "outputs":
			return p.strings(&r.Outputs) && once(1<<15)
		case "trace":
			r.Trace, ok = p.str()
			return ok && once(1<<16)
		case "format":
			sr.Format, ok = p.int()
			return ok && once(1<<17)
		case "values":
			return p.values(sr) && once(1<<18)
		case "tasks":
			return p.tasks(sr) && once(1<<19)
		}
		return false // refs, or a key json.Unmarshal may match otherwise
	})
	return ok && p.end()
}

func (p *reader) owner(o *driver.Owner) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		var ok bool
		var bit uint8
		switch string(key) {
		case "method":
			o.Method, ok = p.str()
			bit = 1
		case "id":
			o.ID, ok = p.str()
			bit = 2
		case "issuer":
			o.Issuer, ok = p.str()
			bit = 4
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}

func (p *reader) strings(out *[]string) bool {
	if p.null() {
		*out = nil
		return true
	}
	if !p.eat('[') {
		return false
	}
	list := []string{}
	if p.eat(']') {
		*out = list
		return true
	}
	for {
		s, ok := p.str()
		if !ok {
			return false
		}
		list = append(list, s)
		if p.eat(']') {
			*out = list
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

func (p *reader) values(sr *storedRecord) bool {
	if p.null() {
		sr.Values = nil
		return true
	}
	vals := make(map[string]json.RawMessage)
	ok := p.object(func(key []byte) bool {
		name := string(key)
		if _, dup := vals[name]; dup {
			return false
		}
		v, ok := p.raw()
		vals[name] = v
		return ok
	})
	sr.Values = vals
	return ok
}

func (p *reader) tasks(sr *storedRecord) bool {
	if p.null() {
		sr.Tasks = nil
		return true
	}
	if !p.eat('[') {
		return false
	}
	ts := []storedTask{}
	if p.eat(']') {
		sr.Tasks = ts
		return true
	}
	for {
		st := storedTask{TaskRecord: &driver.TaskRecord{}}
		if !p.task(&st) {
			return false
		}
		ts = append(ts, st)
		if p.eat(']') {
			sr.Tasks = ts
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

func (p *reader) task(st *storedTask) bool {
	t := st.TaskRecord
	var seen uint16
	defer func() {
		if seen&^(1<<11) == 0 {
			st.TaskRecord = nil // as json.Unmarshal leaves an embedded pointer it sets nothing of
		}
	}()
	return p.object(func(key []byte) bool {
		var ok bool
		var bit uint16
		switch string(key) {
		case "name":
			t.Name, ok = p.str()
			bit = 1 << 0
		case "status":
			var s string
			s, ok = p.str()
			t.Status = driver.TaskStatus(s)
			bit = 1 << 1
		case "attempts":
			t.Attempts, ok = p.int()
			bit = 1 << 2
		case "error":
			t.Error, ok = p.str()
			bit = 1 << 3
		case "error_id":
			t.ErrorID, ok = p.str()
			bit = 1 << 4
		case "started_at":
			ok = p.time(&t.StartedAt)
			bit = 1 << 5
		case "finished_at":
			ok = p.time(&t.FinishedAt)
			bit = 1 << 6
		case "queued":
			t.Queued, ok = p.bool()
			bit = 1 << 7
		case "items":
			t.Items, ok = p.int()
			bit = 1 << 8
		case "next":
			t.Next, ok = p.int()
			bit = 1 << 9
		case "done":
			t.Done, ok = p.int()
			bit = 1 << 10
		case "elem_done":
			ok = p.bitset(&st.ElemDone)
			bit = 1 << 11
		}
		if !ok || seen&bit != 0 {
			return false // results (format 1), or a key of no field here
		}
		seen |= bit
		return true
	})
}

// bitset reads a bit set written as base64; a list of booleans (format 1)
// is left to encoding/json.
func (p *reader) bitset(b *bitset) bool {
	if p.null() {
		*b = nil
		return true
	}
	s, ok := p.plainString()
	if !ok {
		return false
	}
	out, err := base64.StdEncoding.AppendDecode(make(bitset, 0, base64.StdEncoding.DecodedLen(len(s))), s)
	if err != nil {
		return false
	}
	*b = out
	return true
}

// readTaskMessage reads a task message as the task stream holds it (a
// wireTask), as json.Unmarshal would, or reports false for one it leaves
// to json.Unmarshal. The snapshot's record aliases data.
func readTaskMessage(data []byte, wt *wireTask) bool {
	p := &reader{b: data}
	m := &wt.TaskMessage
	var seen uint8
	ok := p.object(func(key []byte) bool {
		var ok bool
		var bit uint8
		switch string(key) {
		case "run_id":
			m.RunID, ok = p.str()
			bit = 1 << 0
		case "pipeline_id":
			m.PipelineID, ok = p.str()
			bit = 1 << 1
		case "task":
			m.Task, ok = p.str()
			bit = 1 << 2
		case "index":
			m.Index, ok = p.int()
			bit = 1 << 3
		case "gen":
			m.Gen, ok = p.int()
			bit = 1 << 4
		case "snapshot":
			wt.Snapshot = &wireSnapshot{}
			ok = p.snapshot(wt.Snapshot)
			bit = 1 << 5
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return ok && p.end()
}

func (p *reader) snapshot(sn *wireSnapshot) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		var ok bool
		var bit uint8
		switch string(key) {
		case "rev":
			var n int
			n, ok = p.int()
			ok = ok && n >= 0
			sn.Rev = uint64(n)
			bit = 1
		case "record":
			sn.Record, ok = p.raw()
			bit = 2
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}
