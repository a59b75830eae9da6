// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// codecStrings are strings the codec must write and read as
// encoding/json does: plain, escaped, HTML, non-ASCII, invalid UTF-8.
var codecStrings = []string{
	"", "a", "run-01HZX", "process_data", `say "hi"`, `back\slash`, "line\nbreak", "tab\t",
	"<b>&amp;</b>", "é", "日本", "\u2028\u2029", "\x00\x1f", "\xff\xfe", "a\u007fb", "/slash/",
}

// codecValues are value documents, as tasks and inputs make them.
var codecValues = []string{
	`1`, `-0.5e3`, `"text"`, `null`, `true`, `{"a":[1,2,{"b":null}]}`, `{ "spaced" : [ 1 , 2 ] }`,
	`"<html> & \u2028"`, `[]`, `{}`, `"esc\"aped\\"`, "\"\u00e9\"", `1.25`,
}

func randString(r *rand.Rand) string { return codecStrings[r.IntN(len(codecStrings))] }

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(5) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(2026, 12, 3, 16, 4, 5, r.IntN(1e9), time.UTC)
	case 2:
		return time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600+1800))
	case 3:
		return time.Now() // a monotonic reading and the local zone
	default:
		return time.Date(2026, 6, 1, 0, 0, r.IntN(60), 0, time.UTC)
	}
}

// randStored returns a stored record with fields drawn at random; bad
// adds what json.Marshal refuses (a year past 9999, a value that is not
// JSON) now and then.
func randStored(r *rand.Rand, bad bool) *storedRecord {
	rec := &driver.RunRecord{
		ID: randString(r), PipelineID: randString(r), Status: driver.RunStatus(randString(r)),
		CreatedAt: randTime(r), StartedAt: randTime(r), FinishedAt: randTime(r), Deadline: randTime(r),
		Generation: r.IntN(3) - 1, TimedOut: r.IntN(2) == 0, Trace: randString(r),
	}
	if r.IntN(2) == 0 {
		rec.IdempotencyKey, rec.InputHash, rec.Error, rec.ErrorID, rec.RerunOf = randString(r), randString(r), randString(r), randString(r), randString(r)
	}
	if r.IntN(3) > 0 {
		rec.Owner = driver.Owner{Method: randString(r), ID: randString(r), Issuer: randString(r)}
	}
	if r.IntN(4) > 0 {
		rec.Outputs = []string{}
		for range r.IntN(3) {
			rec.Outputs = append(rec.Outputs, randString(r))
		}
	}
	sr := &storedRecord{RunRecord: rec, Format: r.IntN(3), Values: map[string]json.RawMessage{}}
	for range r.IntN(5) {
		sr.Values[randString(r)] = json.RawMessage(codecValues[r.IntN(len(codecValues))])
	}
	if r.IntN(8) == 0 {
		sr.Values = nil
	}
	if r.IntN(6) == 0 {
		sr.Refs = map[string]valueRef{randString(r): {Object: randString(r), Size: 9000, Len: -1}}
	}
	for range r.IntN(4) {
		tr := &driver.TaskRecord{
			Name: randString(r), Status: driver.TaskStatus(randString(r)), Attempts: r.IntN(4),
			StartedAt: randTime(r), FinishedAt: randTime(r), Queued: r.IntN(2) == 0,
			Items: r.IntN(3) * 100, Next: r.IntN(3), Done: r.IntN(3),
		}
		if r.IntN(2) == 0 {
			tr.Error, tr.ErrorID = randString(r), randString(r)
		}
		st := storedTask{TaskRecord: tr}
		switch r.IntN(4) {
		case 0:
			st.ElemDone = packBits([]bool{true, false, true, true, false, false, false, false, true})
		case 1:
			st.ElemDone = bitset{}
		}
		sr.Tasks = append(sr.Tasks, st)
	}
	if bad && r.IntN(4) == 0 {
		switch r.IntN(2) {
		case 0:
			rec.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		default:
			sr.Values = map[string]json.RawMessage{"broken": json.RawMessage(`{"a":`)}
		}
	}
	return sr
}

// TestAppendRecordMatchesMarshal holds the hand-written record encoder to
// json.Marshal, byte for byte, and its refusals to json.Marshal's errors.
func TestAppendRecordMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for i := range 5000 {
		sr := randStored(r, true)
		want, werr := json.Marshal(sr)
		got, ok := appendRecord(nil, sr)
		if ok != (werr == nil) {
			t.Fatalf("record %d: appendRecord ok=%v, json.Marshal err=%v\n%s", i, ok, werr, got)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("record %d:\nappendRecord %s\njson.Marshal %s", i, got, want)
		}
		if ok {
			fast++
		}
	}
	if fast < 3000 {
		t.Fatalf("only %d of 5000 records encoded", fast)
	}
}

// sameAsUnmarshal fails t unless readRecord, when it takes data, reads it
// as json.Unmarshal does; it reports whether readRecord took it.
func sameAsUnmarshal(t *testing.T, data []byte) bool {
	t.Helper()
	got := storedRecord{RunRecord: &driver.RunRecord{}}
	if !readRecord(data, &got) {
		return false
	}
	want := storedRecord{RunRecord: &driver.RunRecord{}}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("readRecord took what json.Unmarshal refuses (%v):\n%q", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("readRecord and json.Unmarshal differ on\n%q\nreadRecord   %+v\njson.Unmarshal %+v", data, got, want)
	}
	return true
}

// TestReadRecordMatchesUnmarshal holds the hand-written record reader to
// json.Unmarshal on records as the store writes them, which it must take,
// and on every truncation and on altered copies of them, which it may
// leave to encoding/json but never read otherwise.
func TestReadRecordMatchesUnmarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		sr := randStored(r, false)
		data, err := json.Marshal(sr)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsUnmarshal(t, data) && sr.Refs == nil {
			t.Fatalf("record %d, as the store writes it, left to encoding/json:\n%s", i, data)
		}
		if i%20 == 0 {
			for n := range len(data) {
				sameAsUnmarshal(t, data[:n])
			}
		}
		for _, alt := range alterations(r, data) {
			sameAsUnmarshal(t, alt)
		}
	}
}

// alterations returns copies of a document with one change each: white
// space, a repeated or renamed key, a number json.Unmarshal reads into an
// int differently, a null, a byte changed.
func alterations(r *rand.Rand, data []byte) [][]byte {
	s := string(data)
	out := [][]byte{
		[]byte(" " + strings.ReplaceAll(s, ",", " ,\n\t") + " "),
		[]byte(strings.Replace(s, `{"id":`, `{"id":"dup","id":`, 1)),
		[]byte(strings.Replace(s, `"pipeline_id"`, `"Pipeline_ID"`, 1)),
		[]byte(strings.Replace(s, `"attempts":`, `"attempts":1.0,"x":`, 1)),
		[]byte(strings.Replace(s, `"attempts":`, `"attempts":0`, 1)),
		[]byte(strings.Replace(s, `"attempts":`, `"attempts":-`, 1)),
		[]byte(strings.Replace(s, `"outputs":`, `"outputs":null,"outputs2":`, 1)),
		[]byte(strings.Replace(s, `"status":`, `"status":null,"s":`, 1)),
		[]byte(strings.Replace(s, `"created_at":"`, `"created_at":"x`, 1)),
		[]byte(strings.Replace(s, `"elem_done":"`, `"elem_done":"!`, 1)),
		[]byte(strings.Replace(s, `"elem_done":"`, `"elem_done":[true,false],"e":"`, 1)),
		[]byte(strings.Replace(s, `"tasks":[`, `"tasks":[{},`, 1)),
		[]byte(s + "x"),
		[]byte(s + "{}"),
	}
	if len(data) > 0 {
		b := bytes.Clone(data)
		const set = "\"\\{}[],:0a \x00\xff"
		b[r.IntN(len(b))] = set[r.IntN(len(set))]
		out = append(out, b)
	}
	return out
}

// FuzzReadRecord: whatever readRecord takes, json.Unmarshal reads alike.
func FuzzReadRecord(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		data, _ := json.Marshal(randStored(r, false))
		f.Add(data)
	}
	f.Add([]byte(`{"id":"a","values":{"v":[1,{"x":"\u00e9"}]},"tasks":[{"name":"t","attempts":-0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameAsUnmarshal(t, data) })
}

// TestTaskMessageCodec holds the task message's writer to json.Marshal and
// its reader to json.Unmarshal.
func TestTaskMessageCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		m := driver.TaskMessage{RunID: randString(r), PipelineID: randString(r), Task: randString(r), Index: r.IntN(2000) - 1, Gen: r.IntN(3)}
		want, err := json.Marshal(wireTask{TaskMessage: m})
		if err != nil {
			t.Fatal(err)
		}
		got := appendTaskMessage(nil, &m)
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d:\nappendTaskMessage %s\njson.Marshal      %s", i, got, want)
		}
		rec, _ := json.Marshal(randStored(r, false))
		data := appendSnapshot(got, uint64(r.IntN(1e6)), rec)
		if !sameTaskMessage(t, data) {
			t.Fatalf("message %d, as the broker writes it, left to encoding/json:\n%s", i, data)
		}
		for n := range len(data) {
			if n%7 == 0 {
				sameTaskMessage(t, data[:n])
			}
		}
		for _, alt := range alterations(r, data) {
			sameTaskMessage(t, alt)
		}
		sameTaskMessage(t, bytes.Replace(data, []byte(`"rev":`), []byte(`"rev":-`), 1))
		sameTaskMessage(t, bytes.Replace(data, []byte(`"snapshot":`), []byte(`"snapshot":null,"s":`), 1))
	}
}

func sameTaskMessage(t *testing.T, data []byte) bool {
	t.Helper()
	var got, want wireTask
	if !readTaskMessage(data, &got) {
		return false
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("readTaskMessage took what json.Unmarshal refuses (%v):\n%q", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("readTaskMessage and json.Unmarshal differ on\n%q\nreadTaskMessage %+v\njson.Unmarshal  %+v", data, got, want)
	}
	return true
}

// FuzzReadTaskMessage: whatever readTaskMessage takes, json.Unmarshal
// reads alike.
func FuzzReadTaskMessage(f *testing.F) {
	f.Add([]byte(`{"run_id":"R","pipeline_id":"p","task":"t","index":-1,"snapshot":{"rev":3,"record":{"id":"R"}}}`))
	f.Add([]byte(`{"run_id":"R\n","task":"t","gen":2}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameTaskMessage(t, data) })
}

// BenchmarkRecordCodec compares the hand-written codec with encoding/json
// on the benchmark chain's record as a worker sees it.
func BenchmarkRecordCodec(b *testing.B) {
	now := time.Now().UTC()
	rec := &driver.RunRecord{ID: "01KBQ3V6Z4T2W8R0H5N7M9C1XE", PipelineID: "noop3", Status: driver.RunRunning, CreatedAt: now, StartedAt: now,
		Owner: driver.Owner{Method: "api_key", ID: "admin"}, Outputs: []string{"out"}}
	sr := &storedRecord{RunRecord: rec, Format: recordFormat, Values: map[string]json.RawMessage{"in": json.RawMessage(`1`), "a": json.RawMessage(`2`)}}
	for _, name := range []string{"one", "two", "three"} {
		sr.Tasks = append(sr.Tasks, storedTask{TaskRecord: &driver.TaskRecord{Name: name, Status: driver.TaskSucceeded, Attempts: 1, StartedAt: now, FinishedAt: now, Queued: true}})
	}
	data, _ := json.Marshal(sr)
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(sr)
		}
	})
	b.Run("encode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = appendRecord(make([]byte, 0, 1024), sr)
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := storedRecord{RunRecord: &driver.RunRecord{}}
			_ = json.Unmarshal(data, &out)
		}
	})
	b.Run("decode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := storedRecord{RunRecord: &driver.RunRecord{}}
			readRecord(data, &out)
		}
	})
}

// appendEvent writes what json.Marshal writes, for events of every shape
// the Bus publishes.
func TestEventCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	types := []driver.EventType{driver.EventRunStarted, driver.EventTaskRetrying, driver.EventRunFailed, driver.EventType(randString(r))}
	for i := range 5000 {
		ev := driver.Event{Type: types[r.IntN(len(types))], RunID: randString(r), PipelineID: randString(r), Index: r.IntN(2000) - 1}
		if r.IntN(2) == 0 {
			ev.Task, ev.Attempt = randString(r), r.IntN(5)
		}
		if r.IntN(2) == 0 {
			ev.Error, ev.ErrorID = randString(r), randString(r)
		}
		if r.IntN(3) == 0 {
			ev.RetryIn = time.Duration(r.Int64N(1e12))
		}
		switch r.IntN(4) {
		case 0:
			ev.Time = time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
		case 1:
			ev.Time = time.Unix(r.Int64N(4e9), 0).In(time.FixedZone("x", 3600))
		case 2:
			ev.Time = time.Now()
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendEvent(nil, &ev)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("event %d (%v):\nappendEvent  %s\njson.Marshal %s", i, ok, got, want)
		}
	}
	if _, ok := appendEvent(nil, &driver.Event{Dropped: 1}); ok {
		t.Fatal("an event with drops is not the Bus's to encode")
	}
	if _, ok := appendEvent(nil, &driver.Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); ok {
		t.Fatal("a time json.Marshal refuses was encoded")
	}
}
