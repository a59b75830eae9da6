// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probeFile is a log file that counts writes and syncs and can be made to
// fail or to hold a write.
type probeFile struct {
	*os.File
	p *probe
}

type probe struct {
	writes, syncs atomic.Int64
	synced        atomic.Int64 // file size at the last sync
	failWrite     atomic.Bool
	failSync      atomic.Bool
	gate          chan struct{} // when set, the first write waits for it
	gateOnce      sync.Once
	onSync        chan struct{} // receives after each sync, when set
}

func (f probeFile) Write(b []byte) (int, error) {
	if f.p.gate != nil {
		f.p.gateOnce.Do(func() { <-f.p.gate })
	}
	f.p.writes.Add(1)
	if f.p.failWrite.Load() {
		return 0, errors.New("disk full")
	}
	return f.File.Write(b)
}

func (f probeFile) Sync() error {
	defer func() {
		if f.p.onSync != nil {
			f.p.onSync <- struct{}{}
		}
	}()
	if f.p.failSync.Load() {
		return errors.New("I/O error")
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.p.syncs.Add(1)
	if fi, err := f.File.Stat(); err == nil {
		f.p.synced.Store(fi.Size())
	}
	return nil
}

func (p *probe) open(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return probeFile{File: f, p: p}, nil
}

// fakeTimer stands in for time.After: the syncer's waits are seen on
// asked, and end when the test sends on fire.
type fakeTimer struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{asked: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	f.asked <- d
	return f.fire
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

var modes = []SyncMode{Interval, Always}

// Interval: each record is in the file when Log returns, before any sync;
// the syncer syncs once per interval after the file became dirty, and
// Close syncs the rest.
func TestIntervalWritesBeforeReturnSyncsOnTimer(t *testing.T) {
	p := &probe{onSync: make(chan struct{}, 16)}
	ft := newFakeTimer()
	l, path := openLog(t, Options{File: p.open, After: ft.After})
	for i := range 3 {
		if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
		if n := len(lines(t, path)); n != i+1 {
			t.Fatalf("after Log %d the file holds %d records", i+1, n)
		}
	}
	if n := p.syncs.Load(); n != 0 {
		t.Fatalf("%d syncs before the interval ended", n)
	}
	if d := <-ft.asked; d != DefaultSyncInterval {
		t.Errorf("the syncer waits %s, want %s", d, DefaultSyncInterval)
	}
	ft.fire <- time.Time{}
	<-p.onSync
	if n, size := p.syncs.Load(), fileSize(t, path); n != 1 || p.synced.Load() != size {
		t.Fatalf("%d syncs covering %d of %d bytes; want one covering all", n, p.synced.Load(), size)
	}
	select {
	case d := <-ft.asked:
		t.Fatalf("the syncer waits again (%s) though nothing was written", d)
	default:
	}
	if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	<-ft.asked // a new write starts a new wait
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-p.onSync
	if n, size := p.syncs.Load(), fileSize(t, path); n != 2 || p.synced.Load() != size {
		t.Fatalf("after Close: %d syncs covering %d of %d bytes", n, p.synced.Load(), size)
	}
}

// Always: each record is synced when Log returns, and no timer runs.
func TestAlwaysSyncsBeforeReturn(t *testing.T) {
	p := &probe{}
	ft := newFakeTimer()
	l, path := openLog(t, Options{Sync: Always, File: p.open, After: ft.After})
	for i := range 5 {
		if err := l.Log(Record{Type: TypeRequest, Outcome: "ok", Status: 200 + i}); err != nil {
			t.Fatal(err)
		}
		if size := fileSize(t, path); p.synced.Load() != size || p.syncs.Load() != int64(i+1) {
			t.Fatalf("record %d returned with %d of %d bytes synced (%d syncs)", i+1, p.synced.Load(), size, p.syncs.Load())
		}
	}
	if len(ft.asked) != 0 {
		t.Error("a sync timer runs in Always mode")
	}
}

// Records queued while a batch is being written share the next write.
func TestConcurrentRecordsShareOneWrite(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			p := &probe{gate: make(chan struct{})}
			l, path := openLog(t, Options{Sync: mode, File: p.open})
			var wg sync.WaitGroup
			log := func(i int) {
				defer wg.Done()
				if err := l.Log(Record{Type: TypeRequest, RequestID: fmt.Sprint(i), Outcome: "ok"}); err != nil {
					t.Error(err)
				}
			}
			wg.Add(1)
			go log(0)
			// Wait until record 0 is in its (held) write, then queue ten.
			waitFor(t, l, func() bool { return l.writing })
			const n = 10
			for i := 1; i <= n; i++ {
				wg.Add(1)
				go log(i)
			}
			waitFor(t, l, func() bool { return len(l.pend) == n })
			close(p.gate)
			wg.Wait()
			if w := p.writes.Load(); w != 2 {
				t.Errorf("%d writes for 1 + %d records, want 2", w, n)
			}
			if sum, err := Verify(path); err != nil || sum.Records != n+1 {
				t.Fatalf("verify: %+v %v", sum, err)
			}
		})
	}
}

// waitFor yields until cond, read under the logger's lock, holds.
func waitFor(t *testing.T, l *Logger, cond func() bool) {
	t.Helper()
	for {
		if func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return cond()
		}() {
			return
		}
		runtime.Gosched()
	}
}

func TestWriteFailureFailsClosedInEachMode(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			p := &probe{}
			l, path := openLog(t, Options{Sync: mode, File: p.open})
			if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err != nil {
				t.Fatal(err)
			}
			p.failWrite.Store(true)
			if _, err := l.Append(Record{Type: TypeIntent, Outcome: OutcomePending}); err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("Append = %v, want the write error", err)
			}
			p.failWrite.Store(false)
			if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err == nil {
				t.Fatal("Log succeeded after a failure: the log must fail closed")
			}
			if l.Err() == nil {
				t.Error("Err is nil after a failure")
			}
			if sum, err := Verify(path); err != nil || sum.Records != 1 {
				t.Fatalf("verify: %+v %v", sum, err)
			}
		})
	}
}

func TestSyncFailureFailsClosedInEachMode(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		p := &probe{}
		l, _ := openLog(t, Options{Sync: Always, File: p.open})
		p.failSync.Store(true)
		if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err == nil || !strings.Contains(err.Error(), "I/O error") {
			t.Fatalf("Log = %v, want the sync error", err)
		}
		p.failSync.Store(false)
		if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err == nil {
			t.Fatal("Log succeeded after a failed sync")
		}
	})
	t.Run("interval", func(t *testing.T) {
		p := &probe{onSync: make(chan struct{}, 4)}
		ft := newFakeTimer()
		l, _ := openLog(t, Options{File: p.open, After: ft.After})
		if err := l.Log(Record{Type: TypeRequest, Outcome: "ok"}); err != nil {
			t.Fatal(err) // written: the sync comes later
		}
		p.failSync.Store(true)
		<-ft.asked
		ft.fire <- time.Time{}
		<-p.onSync
		// The probe tells of the sync as it fails; the syncer records the
		// failure just after.
		for deadline := time.Now().Add(10 * time.Second); l.Err() == nil && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if err := l.Log(Record{Type: TypeIntent, Outcome: OutcomePending}); err == nil || !strings.Contains(err.Error(), "I/O error") {
			t.Fatalf("Log after a failed interval sync = %v, want the sync error", err)
		}
		if err := l.Err(); err == nil {
			t.Error("Err is nil after a failed sync")
		}
	})
}

// One chain across both modes, reopenings and many rotations, with intents.
func TestChainAcrossModesAndRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	total := 0
	for round, mode := range []SyncMode{Always, Interval, Always, Interval} {
		l, err := Open(path, Options{Sync: mode, MaxSize: 3000, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 15 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("r%d-%d", round, i)
				seq, err := l.Append(Record{Type: TypeIntent, RequestID: id, Route: "execute_x", Outcome: OutcomePending})
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Log(Record{Type: TypeRequest, RequestID: id, Outcome: "ok", Status: 202, Intent: seq}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		total += 30
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("want several rotations, got %v", files)
	}
	sum, err := Verify(files...)
	if err != nil || sum.Records != uint64(total) || sum.Intents != uint64(total/2) || len(sum.Open) != 0 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
}

func TestOpenRefusesBadSyncOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Sync: "sometimes"},
		{SyncInterval: -time.Second},
		{SyncInterval: time.Microsecond},
		{SyncInterval: time.Minute},
	} {
		if l, err := Open(filepath.Join(dir, "a.jsonl"), o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// The hand-written encoder writes what encoding/json writes.
func TestEncodingIsEncodingJSON(t *testing.T) {
	rec := Record{
		Seq: 12, Time: time.Date(2026, 11, 29, 9, 11, 28, 552147079, time.UTC), Type: TypeRequest,
		RequestID: "fbae7gnkm69rc0xm", Principal: "admin_full", AuthMethod: "api_key", ClientIP: "2001:db8::1",
		Method: "POST", Route: "execute_x", Path: "/p/x\r\n\"y\"\xff\u2028", PipelineID: "x", RunID: "r_1",
		Action: "execute", Outcome: "ok", Status: 202, Detail: "tab\there", Details: map[string]any{"n": 5, "s": "a\nb"},
		Intent: 11, Prev: GenesisHash,
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		t.Fatal(err)
	}
	details, err := encodeDetails(rec.Details)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := appendRecord(nil, &rec, details, &genesis, nil)
	wantBody := bytes.TrimSuffix(want.Bytes(), []byte("}\n"))
	if !bytes.HasPrefix(got, wantBody) || !bytes.HasPrefix(got[len(wantBody):], []byte(hashPrefix)) {
		t.Fatalf("encoded\n%s\nencoding/json\n%s", got, want.Bytes())
	}
	back, _, _, err := decode(bytes.TrimSuffix(got, []byte("\n")), nil)
	if err != nil || back.Path != "/p/x\r\n\"y\"\ufffd\u2028" || back.Intent != 11 || back.Details["s"] != "a\nb" {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	// Empty optional fields are left out, as omitempty does.
	min := Record{Seq: 1, Time: rec.Time, Type: "x", Outcome: "ok", Prev: GenesisHash}
	want.Reset()
	if err := enc.Encode(min); err != nil {
		t.Fatal(err)
	}
	got, _ = appendRecord(nil, &min, nil, &genesis, nil)
	if wantBody := bytes.TrimSuffix(want.Bytes(), []byte("}\n")); !bytes.HasPrefix(got, wantBody) {
		t.Fatalf("encoded\n%s\nencoding/json\n%s", got, want.Bytes())
	}
}
