// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Many writers with several syncs in flight, across rotations: every
// record lands once, in one unbroken chain.
func TestPipelinedCommitsAcrossRotations(t *testing.T) {
	l, path := openLog(t, Options{MaxSize: 4 << 10})
	// Rounds of concurrent writers: a batch never holds more than a round,
	// so the file must rotate many times.
	for round := range 20 {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.Log(Record{Type: "request", RequestID: fmt.Sprint(round*20 + i), Outcome: "ok", Status: 200}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want rotations, got %v", files)
	}
	sum, err := Verify(files...)
	if err != nil || sum.Records != 400 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
}

// Close while records are being written: every Log returns (nil or
// ErrClosed), none hangs, and what was written verifies.
func TestCloseDuringLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, Options{Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Log(Record{Type: "request", Outcome: "ok"})
			switch err {
			case nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case ErrClosed:
			default:
				t.Errorf("Log: %v", err)
			}
		}()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	sum, err := Verify(path)
	if err != nil || sum.Records < uint64(ok) {
		t.Fatalf("verify: %+v %v; %d Logs succeeded", sum, err, ok)
	}
}
