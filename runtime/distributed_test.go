// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// jsonStore is a Store that keeps every record as JSON and updates it by
// compare-and-swap on a revision, the way a JetStream KV store would: no
// Go value survives from one update to the next, and concurrent updates
// retry. It proves the engine assumes no shared memory.
type jsonStore struct {
	mu    sync.Mutex
	recs  map[string][]byte
	revs  map[string]uint64
	keys  map[string]string
	order []string
	cas   int // failed compare-and-swap attempts, for curiosity
}

func newJSONStore() *jsonStore {
	return &jsonStore{recs: map[string][]byte{}, revs: map[string]uint64{}, keys: map[string]string{}}
}

func (s *jsonStore) load(id string) (*driver.RunRecord, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.recs[id]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %q", ErrRunNotFound, id)
	}
	var rec driver.RunRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, 0, err
	}
	return &rec, s.revs[id], nil
}

func (s *jsonStore) Create(_ context.Context, rec *driver.RunRecord) (*Run, bool, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if id, ok := s.keys[rec.PipelineID+"/"+rec.IdempotencyKey]; ok && rec.IdempotencyKey != "" {
		s.mu.Unlock()
		r, _, err := s.load(id)
		if err != nil {
			return nil, false, err
		}
		return r.View(), false, nil
	}
	s.recs[rec.ID], s.revs[rec.ID] = b, 1
	s.keys[rec.PipelineID+"/"+rec.IdempotencyKey] = rec.ID
	s.order = append(s.order, rec.ID)
	s.mu.Unlock()
	var back driver.RunRecord
	_ = json.Unmarshal(b, &back)
	return back.View(), true, nil
}

func (s *jsonStore) Get(_ context.Context, id string) (*Run, error) {
	rec, _, err := s.load(id)
	if err != nil {
		return nil, err
	}
	return rec.View(), nil
}

func (s *jsonStore) Update(_ context.Context, id string, fn func(*driver.RunRecord) error) error {
	for {
		rec, rev, err := s.load(id)
		if err != nil {
			return err
		}
		if err := fn(rec); errors.Is(err, driver.ErrNoChange) {
			return nil
		} else if err != nil {
			return err
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.revs[id] == rev {
			s.recs[id], s.revs[id] = b, rev+1
			s.mu.Unlock()
			return nil
		}
		s.cas++
		s.mu.Unlock()
	}
}

func (s *jsonStore) List(ctx context.Context, opts ListOptions) (RunPage, error) {
	s.mu.Lock()
	ids := append([]string(nil), s.order...)
	s.mu.Unlock()
	page := RunPage{}
	for i := len(ids) - 1; i >= 0; i-- {
		r, err := s.Get(ctx, ids[i])
		if err == nil && (opts.PipelineID == "" || r.PipelineID == opts.PipelineID) {
			page.Runs = append(page.Runs, r)
		}
	}
	return page, nil
}

func (s *jsonStore) Unfinished(ctx context.Context) ([]string, error) {
	page, _ := s.List(ctx, ListOptions{})
	var ids []string
	for _, r := range page.Runs {
		if !r.Status.Terminal() {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// jsonBroker wraps a MemoryBroker so that every message crosses as JSON.
type jsonBroker struct{ *driver.MemoryBroker }

func (b jsonBroker) Enqueue(ctx context.Context, m driver.TaskMessage) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var back driver.TaskMessage
	if err := json.Unmarshal(raw, &back); err != nil {
		return err
	}
	return b.MemoryBroker.Enqueue(ctx, back)
}

type item struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

// registerWordPipeline registers a map/reduce pipeline with a flaky task.
func registerWordPipeline(t *testing.T, reg *Registry, block <-chan struct{}) {
	var mu sync.Mutex
	failed := map[string]bool{}
	mustRegisterTask(t, reg, "count", func(ctx context.Context, in Inputs) (any, error) {
		w, err := Input[string](in, "words")
		if err != nil {
			return nil, err
		}
		mu.Lock()
		first := !failed[w]
		failed[w] = true
		mu.Unlock()
		if first { // every element fails once, then succeeds
			return nil, errors.New("flaky")
		}
		if w == "block" {
			select {
			case <-block:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return item{Word: w, Count: len(w)}, nil
	})
	mustRegisterTask(t, reg, "total", func(_ context.Context, in Inputs) (any, error) {
		items, err := Input[[]item](in, "counts")
		n := 0
		for _, it := range items {
			n += it.Count
		}
		return n, err
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "words", Inputs: fieldsOf("words"), Tasks: []Task{
		{Name: "count", Inputs: []string{"words"}, Output: "counts", Map: "words", MapConcurrency: 2, Retry: RetryPolicy{Attempts: 2}},
		{Name: "total", Inputs: []string{"counts"}, Output: "total"},
	}})
}

// An API engine without workers and a separate Worker share only a JSON
// store, a JSON broker and the event bus, as they would over JetStream.
func TestRemoteWorkerOverJSONStore(t *testing.T) {
	store, broker, bus := newJSONStore(), jsonBroker{driver.NewMemoryBroker()}, driver.NewMemoryBus()
	defer broker.Close()
	defer bus.Close()
	apiReg, workerReg := NewRegistry(), NewRegistry()
	block := make(chan struct{})
	registerWordPipeline(t, apiReg, block)
	registerWordPipeline(t, workerReg, block)
	be := parts{store: store, broker: broker, bus: bus}
	api := newEngine(t, apiReg, WithWorkers(0), WithBackend(be))
	w, err := NewWorker(workerReg, WithWorkers(3), WithBackend(be))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()

	ctx := testCtx(t)
	r, err := api.Run(ctx, "words", map[string]any{"words": RawJSON([]byte(`["a","bb","ccc","dddd"]`))}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded || r.Tasks["count"].Attempts != 2 {
		t.Fatalf("status %s %q tasks %+v", r.Status, r.Error, r.Tasks)
	}
	if n, err := Output[int](r, "total"); err != nil || n != 10 {
		t.Fatalf("total %d %v", n, err)
	}
	counts, err := Output[[]item](r, "counts")
	if err != nil || len(counts) != 4 || counts[3].Word != "dddd" {
		t.Fatalf("counts %+v %v", counts, err)
	}

	// Cancelling on the API reaches the task blocked on the remote worker
	// through the run_cancelled event.
	sawStart, err := api.Subscribe(ctx, EventFilter{PipelineID: "words", Types: []EventType{EventTaskStarted}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sawStart.Close()
	run, err := api.Start(ctx, "words", map[string]any{"words": []string{"block"}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for ev := range sawStart.Events() {
		if ev.RunID == run.ID && ev.Attempt == 2 {
			break // the second attempt, the one that blocks, has started
		}
	}
	if _, err := api.Cancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	final := waitRun(t, api, run.ID)
	if final.Status != RunCancelled {
		t.Fatalf("status %s", final.Status)
	}
	// The worker's task saw the cancellation: the worker is free again and
	// the broker holds nothing for the cancelled run.
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		n := len(w.runs)
		w.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("remote task never saw the cancellation")
		case <-time.After(time.Millisecond):
		}
	}
}

// A new engine over the same store and broker carries an unfinished run
// forward (API restart).
func TestResumeAfterRestart(t *testing.T) {
	store, broker := newJSONStore(), driver.NewMemoryBroker()
	defer broker.Close()
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn("ok"))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Timeout: time.Hour, Tasks: []Task{{Name: "t", Output: "o"}}})
	// The first engine starts a run but has no worker, and "crashes".
	first := New(reg, WithWorkers(0), WithBackend(newParts(t, store, broker)))
	run, err := first.Start(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Drop the queued message as if the broker had lost it.
	for broker.Len() > 0 {
		d, _ := broker.Receive(testCtx(t))
		_ = d.Ack()
	}
	second := newEngine(t, reg, WithBackend(newParts(t, store, broker)))
	if err := second.Resume(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, second, run.ID)
	if r.Status != RunSucceeded {
		t.Fatalf("resumed run %s %q", r.Status, r.Error)
	}
}

// startWorker runs a worker of reg over be until the test ends.
func startWorker(t *testing.T, reg *Registry, be parts, opts ...Option) {
	t.Helper()
	w, err := NewWorker(reg, append([]Option{WithBackend(be), WithWorkers(2), WithLogger(discardLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// A worker without the pipeline hands its tasks back; a worker with it
// runs them, and the runs complete.
func TestWorkerWithoutPipelineHandsTasksBack(t *testing.T) {
	be := newParts(t, driver.NewMemoryStore(), driver.NewMemoryBroker())
	defer be.broker.Close()
	full, other := NewRegistry(), NewRegistry()
	for _, reg := range []*Registry{full, other} {
		mustRegisterTask(t, reg, "t", constFn("ok"))
	}
	mustRegisterPipeline(t, full, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "o"}}})
	mustRegisterPipeline(t, other, Pipeline{ID: "q", Tasks: []Task{{Name: "t", Output: "o"}}})
	api := newEngine(t, full, WithWorkers(0), WithBackend(be))
	startWorker(t, other, be)
	startWorker(t, full, be)
	for range 20 {
		r, err := api.Run(testCtx(t), "p", nil, StartOptions{})
		if err != nil || r.Status != RunSucceeded {
			t.Fatalf("run %v: %v", r, err)
		}
	}
}

// With no worker that has the pipeline, its run fails within the bound
// with an error naming the worker and what it lacks, and the message is
// dead-lettered.
func TestNoWorkerWithPipelineFailsTheRun(t *testing.T) {
	broker := driver.NewMemoryBroker()
	be := newParts(t, driver.NewMemoryStore(), broker)
	defer broker.Close()
	full, other := NewRegistry(), NewRegistry()
	for _, reg := range []*Registry{full, other} {
		mustRegisterTask(t, reg, "t", constFn("ok"))
	}
	mustRegisterPipeline(t, full, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "o"}}})
	mustRegisterPipeline(t, other, Pipeline{ID: "q", Tasks: []Task{{Name: "t", Output: "o"}}})
	api := newEngine(t, full, WithWorkers(0), WithBackend(be))
	startWorker(t, other, be, WithUnknownTaskTimeout(300*time.Millisecond))
	r, err := api.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || !strings.Contains(r.Error, `lacks pipeline "p" (it has pipelines "q")`) || !strings.Contains(r.Error, "no worker ran task \"t\" of pipeline \"p\" within") {
		t.Fatalf("run %s: %q", r.Status, r.Error)
	}
	// The worker dead-letters the message just after failing the run (in
	// that order, so that a crash between the two leaves a failed run).
	ctx := testCtx(t)
	for {
		dl := broker.DeadLetters()
		if len(dl) == 1 && dl[0].RunID == r.ID && strings.Contains(dl[0].Reason, "lacks pipeline") {
			break
		}
		if len(dl) > 1 || ctx.Err() != nil {
			t.Fatalf("dead letters %+v", dl)
		}
		time.Sleep(time.Millisecond)
	}
}
