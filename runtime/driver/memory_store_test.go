// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// storeRun creates a run record directly in s with the given status.
func storeRun(t *testing.T, s *MemoryStore, id, pipeline string, status RunStatus) {
	t.Helper()
	rec := &RunRecord{ID: id, PipelineID: pipeline, Status: RunPending, Values: map[string]Value{}, Tasks: []TaskRecord{{Name: "t", Status: TaskPending}}}
	if _, created, err := s.Create(context.Background(), rec); err != nil || !created {
		t.Fatalf("create %s: %v %v", id, created, err)
	}
	if status != RunPending {
		setStatus(t, s, id, status)
	}
}

func setStatus(t *testing.T, s *MemoryStore, id string, status RunStatus) {
	t.Helper()
	if err := s.Update(context.Background(), id, func(rec *RunRecord) error {
		rec.Status = status
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryStoreTTLEviction(t *testing.T) {
	clock := newFakeClock()
	s := NewMemoryStore(WithTTL(time.Minute), WithStoreClock(clock.Now))
	ctx := context.Background()
	storeRun(t, s, "done", "p", RunSucceeded)
	storeRun(t, s, "going", "p", RunRunning)
	clock.Advance(59 * time.Second)
	if _, err := s.Get(ctx, "done"); err != nil {
		t.Fatalf("evicted before TTL: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.Get(ctx, "done"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("not evicted after TTL: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := s.Get(ctx, "going"); err != nil {
		t.Fatalf("unfinished run evicted: %v", err)
	}
	// The TTL counts from when the run finished.
	setStatus(t, s, "going", RunFailed)
	clock.Advance(30 * time.Second)
	if s.Len() != 1 {
		t.Fatalf("len %d, want 1", s.Len())
	}
	clock.Advance(30 * time.Second)
	if s.Len() != 0 {
		t.Fatalf("len %d, want 0", s.Len())
	}
}

func TestMemoryStoreCapEvictsOldestFinished(t *testing.T) {
	s := NewMemoryStore(WithMaxRuns(3))
	ctx := context.Background()
	storeRun(t, s, "r1", "p", RunRunning)
	storeRun(t, s, "r2", "p", RunRunning)
	storeRun(t, s, "r3", "p", RunRunning)
	setStatus(t, s, "r3", RunSucceeded) // finished first
	setStatus(t, s, "r2", RunFailed)
	storeRun(t, s, "r4", "p", RunPending)
	if _, err := s.Get(ctx, "r3"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("oldest finished r3 kept: %v", err)
	}
	for _, id := range []string{"r1", "r2", "r4"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	storeRun(t, s, "r5", "p", RunPending) // evicts r2
	if _, err := s.Get(ctx, "r2"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("r2 kept: %v", err)
	}
	// Full of unfinished runs: Create refuses.
	_, _, err := s.Create(ctx, &RunRecord{ID: "r6", PipelineID: "p", Status: RunPending})
	if !errors.Is(err, ErrStoreFull) {
		t.Fatalf("create when full: %v", err)
	}
}

func TestMemoryStorePaginationWalksEveryRunOnce(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	const n = 53
	for i := range n {
		storeRun(t, s, fmt.Sprintf("run%02d", i), "p", RunPending)
	}
	seen := map[string]int{}
	var order []string
	cursor := ""
	pages := 0
	for {
		page, err := s.List(ctx, ListOptions{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Runs {
			seen[r.ID]++
			order = append(order, r.ID)
		}
		// Runs created during the walk do not disturb it.
		if pages == 2 {
			storeRun(t, s, "late", "p", RunPending)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != n || pages != 6 {
		t.Fatalf("saw %d runs in %d pages, want %d in 6", len(seen), pages, n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s seen %d times", id, c)
		}
	}
	if order[0] != "run52" || order[n-1] != "run00" {
		t.Fatalf("not newest first: %s ... %s", order[0], order[n-1])
	}
	if _, err := s.List(ctx, ListOptions{Cursor: "garbage"}); !errors.Is(err, ErrInvalidCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestMemoryStoreListFilters(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	storeRun(t, s, "a1", "a", RunSucceeded)
	storeRun(t, s, "a2", "a", RunFailed)
	storeRun(t, s, "a3", "a", RunSucceeded)
	storeRun(t, s, "b1", "b", RunSucceeded)
	ids := func(opts ListOptions) []string {
		page, err := s.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range page.Runs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := fmt.Sprint(ids(ListOptions{PipelineID: "a"})); got != "[a3 a2 a1]" {
		t.Fatalf("pipeline filter: %s", got)
	}
	if got := fmt.Sprint(ids(ListOptions{Status: RunSucceeded})); got != "[b1 a3 a1]" {
		t.Fatalf("status filter: %s", got)
	}
	if got := fmt.Sprint(ids(ListOptions{PipelineID: "a", Status: RunSucceeded, Limit: 1})); got != "[a3]" {
		t.Fatalf("both filters: %s", got)
	}
	page, _ := s.List(ctx, ListOptions{PipelineID: "a", Status: RunSucceeded, Limit: 1})
	next, err := s.List(ctx, ListOptions{PipelineID: "a", Status: RunSucceeded, Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(next.Runs) != 1 || next.Runs[0].ID != "a1" || next.NextCursor != "" {
		t.Fatalf("second filtered page: %+v %v", next, err)
	}
	if _, err := s.List(ctx, ListOptions{Status: "bogus"}); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func TestMemoryStoreIdempotencyAndUpdate(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	rec := &RunRecord{ID: "r1", PipelineID: "p", IdempotencyKey: "k", Status: RunPending}
	if _, created, err := s.Create(ctx, rec); err != nil || !created {
		t.Fatal(created, err)
	}
	r, created, err := s.Create(ctx, &RunRecord{ID: "r2", PipelineID: "p", IdempotencyKey: "k", Status: RunPending})
	if err != nil || created || r.ID != "r1" {
		t.Fatalf("dup key: %v %v %v", r, created, err)
	}
	if err := s.Update(ctx, "r1", func(*RunRecord) error { return ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.Update(ctx, "r1", func(*RunRecord) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "nope", func(*RunRecord) error { return nil }); !errors.Is(err, ErrRunNotFound) {
		t.Fatal(err)
	}
	ids, err := s.Unfinished(ctx)
	if err != nil || len(ids) != 1 || ids[0] != "r1" {
		t.Fatalf("unfinished %v %v", ids, err)
	}
}

// A failed run reopened (a dead letter requeued) is going again: neither
// the TTL nor the cap evicts it, and its TTL counts from its new end.
func TestMemoryStoreReopenedRunIsNotEvicted(t *testing.T) {
	clock := newFakeClock()
	s := NewMemoryStore(WithTTL(time.Minute), WithMaxRuns(2), WithStoreClock(clock.Now))
	ctx := context.Background()
	storeRun(t, s, "r", "p", RunFailed)
	clock.Advance(30 * time.Second)
	setStatus(t, s, "r", RunRunning)
	clock.Advance(time.Hour)
	storeRun(t, s, "x", "p", RunRunning)
	if _, err := s.Get(ctx, "r"); err != nil {
		t.Fatalf("reopened run evicted by TTL: %v", err)
	}
	if _, _, err := s.Create(ctx, &RunRecord{ID: "y", PipelineID: "p", Status: RunPending}); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("cap evicted a reopened run: %v", err)
	}
	setStatus(t, s, "r", RunSucceeded)
	clock.Advance(59 * time.Second)
	if _, err := s.Get(ctx, "r"); err != nil {
		t.Fatalf("evicted before its new TTL: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.Get(ctx, "r"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("not evicted after its new TTL: %v", err)
	}
}
