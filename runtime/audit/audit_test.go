// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func fixedClock() func() time.Time {
	t := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	return func() time.Time { return t }
}

func openLog(t *testing.T, opts Options) (*Logger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if opts.Now == nil {
		opts.Now = fixedClock()
	}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, ls []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentLogsChainAndVerify(t *testing.T) {
	l, path := openLog(t, Options{})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Log(Record{Type: "request", Principal: fmt.Sprintf("key_%d", i%7), Outcome: "ok", Status: 200}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ls := lines(t, path)
	if len(ls) != 200 {
		t.Fatalf("%d lines, want 200", len(ls))
	}
	sum, err := Verify(path)
	if err != nil || sum.Records != 200 {
		t.Fatalf("verify: %v, %+v", err, sum)
	}
	seq, head := l.Head()
	if seq != 200 || head != sum.Head {
		t.Errorf("head %d %s, verify says %s", seq, head, sum.Head)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	l, path := openLog(t, Options{})
	for i := range 6 {
		if err := l.Log(Record{Type: "request", Principal: "admin_full", Outcome: "ok", Status: 200 + i}); err != nil {
			t.Fatal(err)
		}
	}
	orig := lines(t, path)
	cases := map[string]struct {
		edit     func([]string) []string
		wantLine int
		wantText string
	}{
		"edited": {func(ls []string) []string {
			ls[2] = strings.Replace(ls[2], `"principal":"admin_full"`, `"principal":"someone"`, 1)
			return ls
		}, 3, "edited"},
		"deleted": {func(ls []string) []string { return append(ls[:3:3], ls[4:]...) }, 4, "deleted"},
		"inserted copy": {func(ls []string) []string {
			return append(append(ls[:2:2], ls[1]), ls[2:]...)
		}, 3, "inserted"},
		"reordered": {func(ls []string) []string {
			ls[2], ls[3] = ls[3], ls[2]
			return ls
		}, 3, "deleted"},
		"garbage": {func(ls []string) []string {
			ls[4] = `{"seq":5}`
			return ls
		}, 5, "not an audit record"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tampered := filepath.Join(t.TempDir(), "audit.jsonl")
			writeLines(t, tampered, c.edit(append([]string(nil), orig...)))
			_, err := Verify(tampered)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("verify = %v, want a Problem", err)
			}
			if p.Line != c.wantLine || !strings.Contains(p.Reason, c.wantText) {
				t.Errorf("problem at line %d: %q; want line %d mentioning %q", p.Line, p.Reason, c.wantLine, c.wantText)
			}
		})
	}
}

func TestValuesStayOnOneLine(t *testing.T) {
	l, path := openLog(t, Options{})
	if err := l.Log(Record{Type: "request", Path: "/pipelines/x\r\ninjected: 1", Detail: "a\nb", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if ls := lines(t, path); len(ls) != 1 || !strings.Contains(ls[0], `x\r\ninjected`) {
		t.Fatalf("lines = %q", ls)
	}
	if _, err := Verify(path); err != nil {
		t.Fatal(err)
	}
}

func TestRotationContinuesTheChain(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	l, path := openLog(t, Options{MaxSize: 2000, Now: clock})
	for i := range 40 {
		if err := l.Log(Record{Type: "request", Principal: "k", Outcome: "ok", Status: 200, Details: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d files after rotation: %v", len(files), files)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 2000 {
			t.Errorf("%s: %v size %d", f, err, fi.Size())
		}
	}
	sum, err := Verify(files...)
	if err != nil || sum.Records != 40 {
		t.Fatalf("verify across files: %v %+v", err, sum)
	}
	// Reopening continues numbering and the chain.
	l.Close()
	l2, err := Open(path, Options{MaxSize: 2000, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Log(Record{Type: "request", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	files, _ = Files(path)
	if sum, err := Verify(files...); err != nil || sum.Records != 41 {
		t.Fatalf("verify after reopen: %v %+v", err, sum)
	}
	// Deleting a whole rotated file in the middle breaks the chain.
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	files, _ = Files(path)
	if _, err := Verify(files...); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("verify without a middle file = %v", err)
	}
}

type failingFile struct {
	*os.File
	fail bool
}

func (f *failingFile) Write(b []byte) (int, error) {
	if f.fail {
		return 0, errors.New("disk full")
	}
	return f.File.Write(b)
}

func TestWriteFailureIsStickyAndReported(t *testing.T) {
	var ff *failingFile
	l, _ := openLog(t, Options{File: func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := os.OpenFile(name, flag, perm)
		ff = &failingFile{File: f}
		return ff, err
	}})
	if err := l.Log(Record{Type: "request", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	ff.fail = true
	if err := l.Log(Record{Type: "request", Outcome: "ok"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Log = %v, want the write error", err)
	}
	ff.fail = false
	if err := l.Log(Record{Type: "request", Outcome: "ok"}); err == nil {
		t.Fatal("Log succeeded after a failure: the log must fail closed")
	}
}

func TestDamagedLastRecordRefusesToOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(path, []byte("not json at all\n"), 0o600)
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open = %v", err)
	}
}

// BenchmarkLogParallel writes records from 64 goroutines (2 cores), in each
// sync mode.
func BenchmarkLogParallel(b *testing.B) {
	for _, mode := range []SyncMode{Interval, Always} {
		b.Run(string(mode), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "audit.jsonl"), Options{Sync: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Log(Record{Type: TypeRequest, Principal: "admin_full", Route: "list_pipelines", Outcome: "ok", Status: 200}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestVerifyNeedsTheChainFromRecordOne(t *testing.T) {
	l, path := openLog(t, Options{})
	for range 4 {
		if err := l.Log(Record{Type: "request", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	cut := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, cut, lines(t, path)[1:]) // the first record deleted
	_, err := Verify(cut)
	var p *Problem
	if !errors.As(err, &p) || p.Line != 1 || !strings.Contains(p.Reason, "records 1 to 1 are missing") {
		t.Fatalf("Verify without record 1 = %v", err)
	}
	sum, err := VerifyPartial(cut)
	if err != nil || sum.First != 2 || sum.Records != 3 {
		t.Fatalf("VerifyPartial = %+v, %v", sum, err)
	}
}

// BenchmarkSyncLatency appends a batch-sized write (32 records' worth) to a
// file in the test's temp dir and syncs it, one at a time: ns/op is what one
// group commit of Always mode waits for on that disk.
func BenchmarkSyncLatency(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "sync.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	batch := bytes.Repeat([]byte("x"), 32*400)
	for b.Loop() {
		if _, err := f.Write(batch); err != nil {
			b.Fatal(err)
		}
		if err := syncData(f); err != nil {
			b.Fatal(err)
		}
	}
}
