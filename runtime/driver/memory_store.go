// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryStore is an in-process Store. Finished runs are evicted after a TTL
// and, when the store holds MaxRuns runs, oldest finished first; runs that
// are still going are never evicted. Records are mutated in place under a
// per-run lock, so Update costs no serialisation.
type MemoryStore struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu       sync.RWMutex
	runs     map[string]*memEntry
	order    []*memEntry // creation order, ascending seq; may hold evicted entries
	dead     int         // evicted entries still in order
	finished []*memEntry // finish order; may hold evicted entries
	idem     map[string]*memEntry
	seq      uint64
}

type memEntry struct {
	mu         sync.Mutex
	rec        *RunRecord
	seq        uint64
	pipelineID string
	idemKey    string
	gone       atomic.Bool
	finishedAt time.Time // guarded by MemoryStore.mu
}

// StoreOption configures a MemoryStore.
type StoreOption func(*MemoryStore)

// WithTTL evicts finished runs d after they finish; zero (the default) keeps
// them until the run cap evicts them.
func WithTTL(d time.Duration) StoreOption { return func(s *MemoryStore) { s.ttl = d } }

// WithMaxRuns caps the runs held; when full, Create evicts the oldest
// finished run, or fails with ErrStoreFull if none has finished. Zero (the
// default) means 10,000; a negative n means no cap.
func WithMaxRuns(n int) StoreOption { return func(s *MemoryStore) { s.max = n } }

// WithStoreClock sets the clock used for TTL eviction (time.Now by default),
// so tests can move time without sleeping.
func WithStoreClock(now func() time.Time) StoreOption { return func(s *MemoryStore) { s.now = now } }

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...StoreOption) *MemoryStore {
	s := &MemoryStore{
		max:  10000,
		now:  time.Now,
		runs: make(map[string]*memEntry),
		idem: make(map[string]*memEntry),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func idemKey(pipelineID, key string) string { return pipelineID + "\x00" + key }

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, rec *RunRecord) (*Run, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if rec == nil || rec.ID == "" {
		return nil, false, fmt.Errorf("memory store: create: record without ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	var key string
	if rec.IdempotencyKey != "" {
		key = idemKey(rec.PipelineID, rec.IdempotencyKey)
		if e, ok := s.idem[key]; ok {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.rec.View(), false, nil
		}
	}
	if _, dup := s.runs[rec.ID]; dup {
		return nil, false, fmt.Errorf("memory store: create: run %q already exists", rec.ID)
	}
	if s.max > 0 && len(s.runs) >= s.max && !s.evictOldestLocked() {
		return nil, false, fmt.Errorf("%w: %d runs, none finished", ErrStoreFull, len(s.runs))
	}
	s.seq++
	e := &memEntry{rec: rec, seq: s.seq, pipelineID: rec.PipelineID, idemKey: key}
	s.runs[rec.ID] = e
	s.order = append(s.order, e)
	if key != "" {
		s.idem[key] = e
	}
	if rec.Status.Terminal() {
		e.finishedAt = s.now()
		s.finished = append(s.finished, e)
	}
	return rec.View(), true, nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, runID string) (*Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.maybeSweep()
	s.mu.RLock()
	e, ok := s.runs[runID]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrRunNotFound, runID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rec.View(), nil
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, runID string, fn func(*RunRecord) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	e, ok := s.runs[runID]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrRunNotFound, runID)
	}
	e.mu.Lock()
	if e.gone.Load() {
		e.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrRunNotFound, runID)
	}
	was := e.rec.Status.Terminal()
	err := fn(e.rec)
	now := !was && e.rec.Status.Terminal()
	reopened := was && !e.rec.Status.Terminal()
	e.mu.Unlock()
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if now {
		s.mu.Lock()
		if !e.gone.Load() {
			e.finishedAt = s.now()
			s.finished = append(s.finished, e)
		}
		s.mu.Unlock()
	}
	if reopened { // a failed run requeued: no longer evictable
		s.mu.Lock()
		for i, f := range s.finished {
			if f == e {
				s.finished = append(s.finished[:i], s.finished[i+1:]...)
				break
			}
		}
		e.finishedAt = time.Time{}
		s.mu.Unlock()
	}
	return nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, opts ListOptions) (RunPage, error) {
	if err := ctx.Err(); err != nil {
		return RunPage{}, err
	}
	if opts.Status != "" && !opts.Status.Valid() {
		return RunPage{}, fmt.Errorf("memory store: list: unknown status %q", opts.Status)
	}
	end := -1 // exclusive upper bound on seq; -1 means none
	var before uint64
	if opts.Cursor != "" {
		seq, err := DecodeCursor("c", opts.Cursor)
		if err != nil {
			return RunPage{}, err
		}
		before, end = seq, 0
	}
	s.maybeSweep()
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := len(s.order) - 1
	if end == 0 {
		i = sort.Search(len(s.order), func(k int) bool { return s.order[k].seq >= before }) - 1
	}
	limit := opts.limit()
	page := RunPage{Runs: []*Run{}}
	var lastSeq uint64
	for ; i >= 0; i-- {
		e := s.order[i]
		if e.gone.Load() || (opts.PipelineID != "" && e.pipelineID != opts.PipelineID) {
			continue
		}
		e.mu.Lock()
		match := opts.Status == "" || e.rec.Status == opts.Status
		var r *Run
		if match && len(page.Runs) < limit {
			r = e.rec.View()
		}
		e.mu.Unlock()
		if !match {
			continue
		}
		if r == nil { // one more match exists beyond this page
			page.NextCursor = EncodeCursor("c", lastSeq)
			break
		}
		page.Runs = append(page.Runs, r)
		lastSeq = e.seq
	}
	return page, nil
}

// Unfinished implements Store.
func (s *MemoryStore) Unfinished(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for _, e := range s.order {
		if e.gone.Load() {
			continue
		}
		e.mu.Lock()
		if !e.rec.Status.Terminal() {
			ids = append(ids, e.rec.ID)
		}
		e.mu.Unlock()
	}
	return ids, nil
}

// Len returns the number of runs held.
func (s *MemoryStore) Len() int {
	s.maybeSweep()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.runs)
}

// maybeSweep evicts expired runs, taking the write lock only when the oldest
// finished run has expired.
func (s *MemoryStore) maybeSweep() {
	if s.ttl <= 0 {
		return
	}
	s.mu.RLock()
	expired := s.frontExpiredLocked()
	s.mu.RUnlock()
	if expired {
		s.mu.Lock()
		s.sweepLocked()
		s.mu.Unlock()
	}
}

func (s *MemoryStore) frontExpiredLocked() bool {
	for _, e := range s.finished {
		if e.gone.Load() {
			continue
		}
		return !s.now().Before(e.finishedAt.Add(s.ttl))
	}
	return false
}

// sweepLocked evicts the finished runs whose TTL has passed.
func (s *MemoryStore) sweepLocked() {
	if s.ttl <= 0 {
		return
	}
	now := s.now()
	for len(s.finished) > 0 {
		e := s.finished[0]
		if !e.gone.Load() && now.Before(e.finishedAt.Add(s.ttl)) {
			break
		}
		s.finished = s.finished[1:]
		s.evictLocked(e)
	}
}

// evictOldestLocked evicts the run that finished first; false if none has.
func (s *MemoryStore) evictOldestLocked() bool {
	for len(s.finished) > 0 {
		e := s.finished[0]
		s.finished = s.finished[1:]
		if !e.gone.Load() {
			s.evictLocked(e)
			return true
		}
	}
	return false
}

func (s *MemoryStore) evictLocked(e *memEntry) {
	if e.gone.Swap(true) {
		return
	}
	delete(s.runs, e.rec.ID)
	if e.idemKey != "" && s.idem[e.idemKey] == e {
		delete(s.idem, e.idemKey)
	}
	s.dead++
	if s.dead > 64 && s.dead > len(s.order)/2 {
		live := make([]*memEntry, 0, len(s.order)-s.dead)
		for _, x := range s.order {
			if !x.gone.Load() {
				live = append(live, x)
			}
		}
		s.order, s.dead = live, 0
	}
}
