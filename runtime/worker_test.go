// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// failingBroker refuses to enqueue one task.
type failingBroker struct {
	*driver.MemoryBroker
	task string
}

func (b failingBroker) Enqueue(ctx context.Context, m driver.TaskMessage) error {
	if m.Task == b.task {
		return errors.New("queue unavailable")
	}
	return b.MemoryBroker.Enqueue(ctx, m)
}

// A task the broker keeps refusing past WithBrokerRetry fails the run with
// a clear error instead of leaving it waiting forever.
func TestEnqueueFailureFailsRun(t *testing.T) {
	broker := failingBroker{driver.NewMemoryBroker(), "second"}
	defer broker.Close()
	reg := NewRegistry()
	mustRegisterTask(t, reg, "first", constFn(1))
	mustRegisterTask(t, reg, "second", constFn(2))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "first", Output: "a"},
		{Name: "second", Inputs: []string{"a"}, Output: "b"},
	}})
	e := newEngine(t, reg, WithBackend(newParts(t, driver.NewMemoryStore(), broker)), WithLogger(discardLogger()), WithBrokerRetry(100*time.Millisecond))
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || !strings.Contains(r.Error, `task "second" could not be enqueued: queue unavailable`) {
		t.Fatalf("status %s error %q", r.Status, r.Error)
	}
}

// flakyBroker refuses the first n enqueues of one task.
type flakyBroker struct {
	*driver.MemoryBroker
	task    string
	refused *atomic.Int32
	n       int32
}

func (b flakyBroker) Enqueue(ctx context.Context, m driver.TaskMessage) error {
	if m.Task == b.task && b.refused.Add(1) <= b.n {
		return errors.New("broker unavailable")
	}
	return b.MemoryBroker.Enqueue(ctx, m)
}

// A broker that refuses a task for a while (an outage shorter than the
// retry bound) delays the run; it does not fail it.
func TestEnqueueRetriedThroughOutage(t *testing.T) {
	broker := flakyBroker{MemoryBroker: driver.NewMemoryBroker(), task: "second", refused: new(atomic.Int32), n: 3}
	defer broker.Close()
	reg := NewRegistry()
	mustRegisterTask(t, reg, "first", constFn(1))
	mustRegisterTask(t, reg, "second", constFn(2))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "first", Output: "a"},
		{Name: "second", Inputs: []string{"a"}, Output: "b"},
	}})
	e := newEngine(t, reg, WithBackend(newParts(t, driver.NewMemoryStore(), broker)), WithLogger(discardLogger()))
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded || broker.refused.Load() != 4 {
		t.Fatalf("status %s error %q after %d enqueues", r.Status, r.Error, broker.refused.Load())
	}
}

// After losing events, a worker checks the store and cancels its
// executions of runs that have ended.
func TestWorkerSweepCancelsEndedRuns(t *testing.T) {
	store := driver.NewMemoryStore()
	storeRun(t, store, "ended", "p", RunCancelled)
	storeRun(t, store, "going", "p", RunRunning)
	w, err := NewWorker(NewRegistry(), WithBackend(newParts(t, store, driver.NewMemoryBroker())))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	ended, going := w.acquire(ctx, "ended"), w.acquire(ctx, "going")
	w.sweep(ctx)
	if !errors.Is(context.Cause(ended.ctx), ErrRunCancelled) {
		t.Fatalf("ended run cause %v", context.Cause(ended.ctx))
	}
	if going.ctx.Err() != nil {
		t.Fatal("running run cancelled")
	}
	w.release("ended", ended)
	w.release("going", going)
	if _, err := NewWorker(NewRegistry()); err == nil {
		t.Fatal("NewWorker without store, broker and bus accepted")
	}
}

// A message for a run whose record does not match the registered pipeline
// (for example after a redeploy) is terminated, not retried forever.
func TestMismatchedRecordIsTerminated(t *testing.T) {
	store, broker := driver.NewMemoryStore(), driver.NewMemoryBroker()
	defer broker.Close()
	storeRun(t, store, "old", "p", RunRunning) // one task named "t"
	reg := NewRegistry()
	mustRegisterTask(t, reg, "x", constFn(1))
	mustRegisterTask(t, reg, "y", constFn(2))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "x", Output: "a"}, {Name: "y", Output: "b"}}})
	w, err := NewWorker(reg, WithBackend(newParts(t, store, broker)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	_ = broker.Enqueue(ctx, driver.TaskMessage{RunID: "old", PipelineID: "p", Task: "y", Index: -1})
	d, err := broker.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.handle(ctx, d, newJob(w))
	if dl := broker.DeadLetters(); len(dl) != 1 || !strings.Contains(dl[0].Reason, "another definition") {
		t.Fatalf("dead letters %+v", dl)
	}
}

// storeRun stores a one-task run of pipeline with the given status.
func storeRun(t *testing.T, s driver.Store, id, pipeline string, status RunStatus) {
	t.Helper()
	rec := &driver.RunRecord{ID: id, PipelineID: pipeline, Status: status, Values: map[string]Value{}, Tasks: []driver.TaskRecord{{Name: "t", Status: TaskPending}}}
	if _, created, err := s.Create(context.Background(), rec); err != nil || !created {
		t.Fatalf("create %s: %v %v", id, created, err)
	}
}

// The engine's runs are listed through its store, with TTL from an
// injected clock.
func TestEngineListAndTTL(t *testing.T) {
	clock := newFakeClock()
	store := driver.NewMemoryStore(driver.WithTTL(time.Hour), driver.WithStoreClock(clock.Now))
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn("x"))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "o"}}})
	e := newEngine(t, reg, WithBackend(newParts(t, store, driver.NewMemoryBroker())))
	ctx := testCtx(t)
	for range 3 {
		if _, err := e.Run(ctx, "p", nil, StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := e.List(ctx, ListOptions{PipelineID: "p", Status: RunSucceeded})
	if err != nil || len(page.Runs) != 3 {
		t.Fatalf("list: %d %v", len(page.Runs), err)
	}
	clock.Advance(time.Hour)
	page, err = e.List(ctx, ListOptions{})
	if err != nil || len(page.Runs) != 0 {
		t.Fatalf("after TTL: %d %v", len(page.Runs), err)
	}
}

// With a backend's RunningAfter, a short attempt's start is written with
// its end (one write), and a long attempt is seen running once it has run
// that long.
func TestStartWrittenAfterRunningAfter(t *testing.T) {
	be := newParts(t, driver.NewMemoryStore(), driver.NewMemoryBroker())
	defer be.broker.Close()
	be.runningAfter = 30 * time.Millisecond
	release := make(chan struct{})
	reg := NewRegistry()
	mustRegisterTask(t, reg, "quick", constFn(1))
	mustRegisterTask(t, reg, "slow", func(ctx context.Context, _ Inputs) (any, error) {
		<-release
		return 2, nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "quick", Output: "a"},
		{Name: "slow", Inputs: []string{"a"}, Output: "b"},
	}})
	e := newEngine(t, reg, WithBackend(be))
	ctx := testCtx(t)
	run, err := e.Start(ctx, "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := e.Get(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tasks["slow"].Status == TaskRunning {
			q := r.Tasks["quick"]
			if r.Status != RunRunning || r.StartedAt.IsZero() || q.Status != TaskSucceeded || q.Attempts != 1 || q.StartedAt.IsZero() || q.StartedAt.After(q.FinishedAt) || r.Tasks["slow"].Attempts != 1 {
				t.Fatalf("while slow runs: %+v", r)
			}
			break
		}
		if r.Status.Terminal() {
			t.Fatalf("run ended: %+v", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if r := waitRun(t, e, run.ID); r.Status != RunSucceeded || r.Tasks["slow"].Attempts != 1 {
		t.Fatalf("%+v", r)
	}
}
