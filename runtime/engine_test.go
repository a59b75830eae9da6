// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
)

// A diamond a->(b, c)->d with an independent branch e: c and e finish while
// b is blocked, so tasks start when their inputs exist, not in waves.
func TestDiamondRunsReadyTasksWhileSiblingBlocked(t *testing.T) {
	reg := NewRegistry()
	rec := &recorder{}
	releaseB := make(chan struct{})
	bStarted := make(chan struct{})
	cDone, eDone := make(chan struct{}), make(chan struct{})
	mustRegisterTask(t, reg, "a", func(_ context.Context, in Inputs) (any, error) {
		x, err := Input[int](in, "x")
		rec.add("a")
		return x + 1, err
	})
	mustRegisterTask(t, reg, "b", func(ctx context.Context, in Inputs) (any, error) {
		close(bStarted)
		select {
		case <-releaseB:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		a, err := Input[int](in, "a_out")
		rec.add("b")
		return a * 10, err
	})
	mustRegisterTask(t, reg, "c", func(_ context.Context, in Inputs) (any, error) {
		a, err := Input[int](in, "a_out")
		rec.add("c")
		defer close(cDone)
		return a * 100, err
	})
	mustRegisterTask(t, reg, "d", func(_ context.Context, in Inputs) (any, error) {
		b, err1 := Input[int](in, "b_out")
		c, err2 := Input[int](in, "c_out")
		rec.add("d")
		return b + c, errors.Join(err1, err2)
	})
	mustRegisterTask(t, reg, "e", func(_ context.Context, in Inputs) (any, error) {
		y, err := Input[string](in, "y")
		rec.add("e")
		defer close(eDone)
		return strings.ToUpper(y), err
	})
	mustRegisterPipeline(t, reg, Pipeline{
		ID:     "diamond",
		Inputs: fieldsOf("x", "y"),
		Tasks: []Task{
			{Name: "d", Inputs: []string{"b_out", "c_out"}, Output: "d_out"},
			{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
			{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
			{Name: "c", Inputs: []string{"a_out"}, Output: "c_out"},
			{Name: "e", Inputs: []string{"y"}, Output: "e_out"},
		},
		Outputs: fieldsOf("d_out", "e_out"),
	})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	run, err := e.Start(ctx, "diamond", map[string]any{"x": 1, "y": "hi"}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != RunPending {
		t.Fatalf("Start status = %s, want pending", run.Status)
	}
	<-bStarted
	<-cDone
	<-eDone
	// b is still blocked: c and e are done, d has not run.
	got, err := e.Get(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Tasks["b"].Status; s != TaskRunning {
		t.Fatalf("b status = %s while blocked, want running", s)
	}
	if s := got.Tasks["d"].Status; s != TaskPending {
		t.Fatalf("d status = %s before b finished, want pending", s)
	}
	close(releaseB)
	final := waitRun(t, e, run.ID)
	if final.Status != RunSucceeded {
		t.Fatalf("status = %s (%s)", final.Status, final.Error)
	}
	order := rec.list()
	if order[len(order)-1] != "d" || slices.Index(order, "b") < slices.Index(order, "c") || slices.Index(order, "b") < slices.Index(order, "e") {
		t.Fatalf("order = %v, want c and e before b, d last", order)
	}
	d, err := Output[int](final, "d_out")
	if err != nil || d != 2*10+2*100 {
		t.Fatalf("d_out = %d, %v", d, err)
	}
	if up, _ := Output[string](final, "e_out"); up != "HI" {
		t.Fatalf("e_out = %q", up)
	}
	if _, ok := final.Outputs["a_out"]; ok {
		t.Fatal("outputs not restricted to Pipeline.Outputs")
	}
}

// A pipeline input read by a non-root task.
func TestPipelineInputConsumedByNonRootTask(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "first", func(_ context.Context, in Inputs) (any, error) {
		s, err := Input[string](in, "text")
		return s + "!", err
	})
	mustRegisterTask(t, reg, "second", func(_ context.Context, in Inputs) (any, error) {
		s, err1 := Input[string](in, "shout")
		n, err2 := Input[int](in, "times")
		return strings.Repeat(s, n), errors.Join(err1, err2)
	})
	mustRegisterPipeline(t, reg, Pipeline{
		ID:     "p",
		Inputs: fieldsOf("text", "times"),
		Tasks: []Task{
			{Name: "first", Inputs: []string{"text"}, Output: "shout"},
			{Name: "second", Inputs: []string{"shout", "times"}, Output: "result"},
		},
	})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", map[string]any{"text": "go", "times": 3}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Output[string](r, "result"); err != nil || got != "go!go!go!" {
		t.Fatalf("result = %q, %v (%s)", got, err, r.Error)
	}
	// Default outputs: every task output.
	if len(r.Outputs) != 2 {
		t.Fatalf("outputs = %v, want shout and result", r.Outputs)
	}
}

// Inputs arriving as raw JSON (from HTTP) decode lazily into typed values.
func TestRawJSONInputs(t *testing.T) {
	type item struct {
		Name string `json:"name"`
	}
	reg := NewRegistry()
	mustRegisterTask(t, reg, "names", func(_ context.Context, in Inputs) (any, error) {
		items, err := Input[[]item](in, "items")
		var out []string
		for _, it := range items {
			out = append(out, it.Name)
		}
		return out, err
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("items"), Tasks: []Task{{Name: "names", Inputs: []string{"items"}, Output: "names"}}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", map[string]any{"items": RawJSON([]byte(`[{"name":"x"},{"name":"y"}]`))}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Output[[]string](r, "names")
	if err != nil || !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("names = %v, %v (%s)", got, err, r.Error)
	}
}

func retryPipeline(t *testing.T, reg *Registry, fn TaskFunc, retry RetryPolicy) {
	t.Helper()
	mustRegisterTask(t, reg, "flaky", fn)
	mustRegisterPipeline(t, reg, Pipeline{ID: "retry", Tasks: []Task{{Name: "flaky", Output: "out", Retry: retry}}})
}

func TestRetrySucceedsOnThirdAttempt(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	retryPipeline(t, reg, func(_ context.Context, in Inputs) (any, error) {
		n := calls.Add(1)
		if int(n) != in.Attempt() {
			return nil, Permanent(fmt.Errorf("attempt %d reported as %d", n, in.Attempt()))
		}
		if n < 3 {
			return nil, fmt.Errorf("transient %d", n)
		}
		return "ok", nil
	}, RetryPolicy{Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	sub, err := e.Subscribe(ctx, EventFilter{PipelineID: "retry"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r, err := e.Run(ctx, "retry", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded || r.Tasks["flaky"].Attempts != 3 || calls.Load() != 3 {
		t.Fatalf("status %s attempts %d calls %d (%s)", r.Status, r.Tasks["flaky"].Attempts, calls.Load(), r.Error)
	}
	var retrying []Event
	for ev := range sub.Events() {
		if ev.Type == EventTaskRetrying {
			retrying = append(retrying, ev)
		}
		if ev.Type.RunEnded() {
			break
		}
	}
	if len(retrying) != 2 || retrying[0].Attempt != 1 || retrying[1].Attempt != 2 || retrying[1].Error != "transient 2" {
		t.Fatalf("retrying events = %+v", retrying)
	}
}

func TestPermanentErrorNotRetried(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	sentinel := errors.New("bad request")
	retryPipeline(t, reg, func(context.Context, Inputs) (any, error) {
		calls.Add(1)
		return nil, Permanent(fmt.Errorf("wrapped: %w", sentinel))
	}, RetryPolicy{Attempts: 5, Backoff: time.Millisecond})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "retry", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || r.Tasks["flaky"].Attempts != 1 || calls.Load() != 1 {
		t.Fatalf("status %s attempts %d calls %d", r.Status, r.Tasks["flaky"].Attempts, calls.Load())
	}
	if r.Error != `task "flaky" failed: wrapped: bad request` {
		t.Fatalf("run error = %q", r.Error)
	}
	if !errors.Is(r.Err(), ErrRunFailed) {
		t.Fatalf("Err() = %v, want ErrRunFailed", r.Err())
	}
	if !IsPermanent(Permanent(sentinel)) || !errors.Is(Permanent(sentinel), sentinel) || Permanent(nil) != nil {
		t.Fatal("Permanent does not wrap")
	}
}

func TestRetriesExhaustedFailTheRun(t *testing.T) {
	reg := NewRegistry()
	retryPipeline(t, reg, func(context.Context, Inputs) (any, error) {
		return nil, errors.New("always")
	}, RetryPolicy{Attempts: 2})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "retry", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || r.Tasks["flaky"].Attempts != 2 || r.Error != `task "flaky" failed after 2 attempts: always` {
		t.Fatalf("status %s attempts %d error %q", r.Status, r.Tasks["flaky"].Attempts, r.Error)
	}
}

func TestTaskTimeout(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "slow", func(ctx context.Context, _ Inputs) (any, error) {
		<-ctx.Done() // blocks until the task timeout
		return nil, ctx.Err()
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "slow", Output: "o", Timeout: 20 * time.Millisecond, Retry: RetryPolicy{Attempts: 2}}}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := r.Tasks["slow"]
	if r.Status != RunFailed || ts.Status != TaskFailed || ts.Attempts != 2 || !strings.Contains(ts.Error, "task timeout exceeded: took longer than 20ms") {
		t.Fatalf("run %s task %+v", r.Status, ts)
	}
}

func TestPanicFailsTaskNotProcess(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "boom", func(context.Context, Inputs) (any, error) {
		var m map[string]int
		m["x"] = 1 // nil map write panics
		return nil, nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "boom", Output: "o", Retry: RetryPolicy{Attempts: 3}}}})
	e := newEngine(t, reg, WithLogger(discardLogger()))
	for range 2 { // the engine keeps working after a panic
		r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ts := r.Tasks["boom"]
		if r.Status != RunFailed || ts.Attempts != 1 || !strings.Contains(ts.Error, "task panicked: assignment to entry in nil map") {
			t.Fatalf("run %s task %+v", r.Status, ts)
		}
		if !strings.Contains(r.Error, `task "boom" failed: task panicked`) {
			t.Fatalf("run error %q", r.Error)
		}
	}
}

func TestCancelReachesBlockedTask(t *testing.T) {
	reg := NewRegistry()
	started := make(chan struct{})
	sawCancel := make(chan error, 1)
	mustRegisterTask(t, reg, "block", func(ctx context.Context, _ Inputs) (any, error) {
		close(started)
		<-ctx.Done()
		sawCancel <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	mustRegisterTask(t, reg, "after", constFn(1))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "block", Output: "b"},
		{Name: "after", Inputs: []string{"b"}, Output: "a"},
	}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	run, err := e.Start(ctx, "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	c, err := e.Cancel(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != RunCancelled {
		t.Fatalf("Cancel returned %s", c.Status)
	}
	if cause := <-sawCancel; !errors.Is(cause, ErrRunCancelled) {
		t.Fatalf("task context cause = %v", cause)
	}
	r := waitRun(t, e, run.ID)
	if r.Status != RunCancelled || r.Tasks["block"].Status != TaskCancelled || r.Tasks["after"].Status != TaskCancelled || !errors.Is(r.Err(), ErrRunCancelled) {
		t.Fatalf("run %s tasks %+v", r.Status, r.Tasks)
	}
	if _, err := e.Cancel(ctx, run.ID); !errors.Is(err, ErrRunFinished) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := e.Cancel(ctx, "nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

// Fail-fast: when one task fails, a sibling blocked in another branch sees
// its context cancelled and the run fails naming the failed task.
func TestFailFastCancelsSiblings(t *testing.T) {
	reg := NewRegistry()
	started := make(chan struct{})
	sawCancel := make(chan struct{})
	mustRegisterTask(t, reg, "blocked", func(ctx context.Context, _ Inputs) (any, error) {
		close(started)
		<-ctx.Done()
		close(sawCancel)
		return nil, ctx.Err()
	})
	mustRegisterTask(t, reg, "failing", func(context.Context, Inputs) (any, error) {
		<-started
		return nil, errors.New("disk full")
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "blocked", Output: "x"},
		{Name: "failing", Output: "y"},
	}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-sawCancel
	if r.Status != RunFailed || r.Error != `task "failing" failed: disk full` {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	if r.Tasks["blocked"].Status != TaskCancelled || r.Tasks["failing"].Status != TaskFailed {
		t.Fatalf("tasks %+v", r.Tasks)
	}
}

// The pipeline timeout fails the run even while no task is running (here
// the only task waits for a long retry backoff).
func TestPipelineTimeoutWithNoTaskRunning(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", func(context.Context, Inputs) (any, error) { return nil, errors.New("again") })
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Timeout: 30 * time.Millisecond, Tasks: []Task{
		{Name: "t", Output: "o", Retry: RetryPolicy{Attempts: 3, Backoff: time.Hour}},
	}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || r.Error != `pipeline "p" timed out after 30ms` || !errors.Is(r.Err(), ErrPipelineTimeout) {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	if r.Tasks["t"].Status != TaskCancelled || r.Tasks["t"].Error != "again" {
		t.Fatalf("task %+v", r.Tasks["t"])
	}
}

// The pipeline timeout also reaches a running task's context.
func TestPipelineTimeoutCancelsRunningTask(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", func(ctx context.Context, _ Inputs) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Timeout: 20 * time.Millisecond, Tasks: []Task{{Name: "t", Output: "o"}}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || !strings.Contains(r.Error, "timed out after 20ms") {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
}

func TestIdempotencyKey(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	mustRegisterTask(t, reg, "once", func(context.Context, Inputs) (any, error) { return calls.Add(1), nil })
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "once", Output: "o"}}})
	mustRegisterPipeline(t, reg, Pipeline{ID: "q", Tasks: []Task{{Name: "once", Output: "o"}}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	r1, err := e.Start(ctx, "p", nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, r1.ID)
	r2, err := e.Start(ctx, "p", nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if r2.ID != r1.ID || r2.Status != RunSucceeded {
		t.Fatalf("second start: id %s status %s, want %s succeeded", r2.ID, r2.Status, r1.ID)
	}
	if calls.Load() != 1 {
		t.Fatalf("task ran %d times", calls.Load())
	}
	// Same key, other pipeline: a new run.
	r3, err := e.Start(ctx, "q", nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if r3.ID == r1.ID {
		t.Fatal("key shared across pipelines")
	}
	waitRun(t, e, r3.ID)
}

func TestStartErrors(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn(1))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("a"), Tasks: []Task{{Name: "t", Inputs: []string{"a"}, Output: "o"}}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	if _, err := e.Start(ctx, "nope", nil, StartOptions{}); !errors.Is(err, ErrUnknownPipeline) {
		t.Fatalf("unknown pipeline: %v", err)
	}
	if _, err := e.Start(ctx, "p", nil, StartOptions{}); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `missing input "a"`) {
		t.Fatalf("missing input: %v", err)
	}
	if _, err := e.Start(ctx, "p", map[string]any{"a": 1, "zz": 2}, StartOptions{}); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `unknown input "zz"`) {
		t.Fatalf("unknown input: %v", err)
	}
	if _, err := e.Get(ctx, "nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := e.Wait(ctx, "nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("wait: %v", err)
	}
	if _, err := e.Subscribe(ctx, EventFilter{PipelineID: "nope"}, 0); !errors.Is(err, ErrUnknownPipeline) {
		t.Fatalf("subscribe: %v", err)
	}
}

// The engine runs at most WithWorkers tasks at once.
func TestWorkerBound(t *testing.T) {
	reg := NewRegistry()
	var cur, peak atomic.Int32
	gate, entered := make(chan struct{}), make(chan struct{}, 6)
	mustRegisterTask(t, reg, "w", func(context.Context, Inputs) (any, error) {
		n := cur.Add(1)
		entered <- struct{}{}
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		cur.Add(-1)
		return nil, nil
	})
	var tasks []Task
	mustRegisterTask(t, reg, "x", constFn(nil))
	for i := range 6 {
		name := fmt.Sprintf("w%d", i)
		mustRegisterTask(t, reg, name, reg.funcs["w"])
		tasks = append(tasks, Task{Name: name, Output: name})
	}
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: tasks})
	e := newEngine(t, reg, WithWorkers(2))
	ctx := testCtx(t)
	run, err := e.Start(ctx, "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	<-entered // two tasks are running at once
	close(gate)
	r := waitRun(t, e, run.ID)
	if r.Status != RunSucceeded || peak.Load() != 2 {
		t.Fatalf("status %s peak %d, want peak 2", r.Status, peak.Load())
	}
}

// A run serialises with the field names of the HTTP contract.
func TestRunJSONShape(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn(map[string]string{"processed": "X"}))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "result"}}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"run_id", "pipeline_id", "status", "created_at", "started_at", "finished_at", "tasks", "outputs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("run JSON lacks %q: %s", k, b)
		}
	}
	task := m["tasks"].(map[string]any)["t"].(map[string]any)
	if task["status"] != "succeeded" || task["attempts"] != 1.0 {
		t.Fatalf("task JSON %v", task)
	}
	if out := m["outputs"].(map[string]any)["result"].(map[string]any); out["processed"] != "X" {
		t.Fatalf("outputs JSON %s", b)
	}
}

// A task that returns after the pipeline deadline does not make its run
// succeed: completion checks the deadline like every transition, so the
// run times out even when no timer of the engine fires (here the clock
// moves, not time).
func TestPipelineDeadlineCheckedOnCompletion(t *testing.T) {
	clock := newFakeClock()
	reg := NewRegistry()
	mustRegisterTask(t, reg, "slow", func(context.Context, Inputs) (any, error) {
		clock.Advance(2 * time.Hour) // the task "took" two hours
		return "late", nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Timeout: time.Hour, Tasks: []Task{{Name: "slow", Output: "o"}}})
	e := newEngine(t, reg, WithClock(clock.Now))
	r, err := e.Run(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || r.Error != `pipeline "p" timed out after 1h0m0s` || !errors.Is(r.Err(), ErrPipelineTimeout) {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	if r.Outputs != nil || r.Tasks["slow"].Status != TaskCancelled {
		t.Fatalf("outputs %v task %+v", r.Outputs, r.Tasks["slow"])
	}
}

// A task timeout holds even when the task ignores its context: at the
// deadline the attempt is over and retried, then failed, and what the
// function returns afterwards is discarded and logged, never recorded.
func TestTaskTimeoutHoldsWhenTaskIgnoresContext(t *testing.T) {
	var logs testutil.Buffer
	release := make(chan struct{})
	var calls atomic.Int32
	reg := NewRegistry()
	mustRegisterTask(t, reg, "stubborn", func(_ context.Context, in Inputs) (any, error) {
		calls.Add(1)
		if in.Attempt() == 3 {
			return "in time", nil
		}
		<-release // ignores ctx: returns only when the test says so
		return "too late", nil
	})
	retry := RetryPolicy{Attempts: 2, Backoff: time.Millisecond}
	mustRegisterPipeline(t, reg, Pipeline{ID: "fails", Tasks: []Task{{Name: "stubborn", Output: "o", Timeout: 20 * time.Millisecond, Retry: retry}}})
	retry.Attempts = 3
	mustRegisterPipeline(t, reg, Pipeline{ID: "recovers", Tasks: []Task{{Name: "stubborn", Output: "o", Timeout: 20 * time.Millisecond, Retry: retry}}})
	e := newEngine(t, reg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := testCtx(t)

	failed, err := e.Run(ctx, "fails", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := failed.Tasks["stubborn"]
	if failed.Status != RunFailed || ts.Status != TaskFailed || ts.Attempts != 2 ||
		failed.Error != `task "stubborn" failed after 2 attempts: task timeout exceeded: took longer than 20ms: context deadline exceeded` {
		t.Fatalf("run %s %q task %+v", failed.Status, failed.Error, ts)
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d calls, want 2", c)
	}
	recovered, err := e.Run(ctx, "recovers", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := Output[string](recovered, "o"); recovered.Status != RunSucceeded || out != "in time" || recovered.Tasks["stubborn"].Attempts != 3 {
		t.Fatalf("run %s %q output %q task %+v", recovered.Status, recovered.Error, out, recovered.Tasks["stubborn"])
	}

	close(release) // the four abandoned calls return now
	for strings.Count(logs.String(), "its result is discarded") < 4 {
		if ctx.Err() != nil {
			t.Fatalf("late results logged: %s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	for _, want := range []*Run{failed, recovered} {
		got, err := e.Get(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		gotOut, _ := Output[string](got, "o")
		wantOut, _ := Output[string](want, "o")
		if got.Status != want.Status || got.Error != want.Error || gotOut != wantOut || got.Tasks["stubborn"] != want.Tasks["stubborn"] {
			t.Fatalf("run %s changed after the late results: %+v, was %+v", want.ID, got, want)
		}
	}
}
