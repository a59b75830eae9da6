// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Worker executes task messages from a Broker. An Engine runs one in
// process unless WithWorkers(0); a separate process (for example a
// JetStream worker) creates its own with NewWorker and calls Run. All state
// goes through the Store and the EventBus, so workers and engines may live
// in different processes.
type Worker struct {
	reg     *Registry
	cfg     config
	control bool // subscribe to run-ended events to cancel local tasks

	running atomic.Bool
	mu      sync.Mutex
	runs    map[string]*runCtx

	// onEnd, if set, is told about every run this worker ends.
	onEnd func(runID string)
}

// runCtx is the context shared by this worker's executions of one run:
// cancelling it reaches every one of them.
type runCtx struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	refs   int
}

// NewWorker returns a Worker executing the tasks of reg's pipelines on the
// backend given WithBackend, which is required (an in-memory default would
// be shared with no engine), running WithWorkers executions at once.
func NewWorker(reg *Registry, opts ...Option) (*Worker, error) {
	cfg := newConfig(opts)
	if cfg.backend == nil {
		return nil, errors.New("runtime: NewWorker needs WithBackend")
	}
	return newWorker(reg, cfg, true), nil
}

func newWorker(reg *Registry, cfg config, control bool) *Worker {
	return &Worker{reg: reg, cfg: cfg, control: control, runs: make(map[string]*runCtx)}
}

// Run executes tasks until ctx is done, then waits for the executions in
// flight: their contexts are cancelled, and their messages are handed back
// to the broker for redelivery without being recorded as failures. A Worker
// runs once; a second call returns an error.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("runtime: Worker.Run called twice")
	}
	var wg sync.WaitGroup
	if w.control {
		sub, err := w.cfg.bus.Subscribe(ctx, EventFilter{Types: []EventType{EventRunFailed, EventRunCancelled}}, driver.SubscribeOptions{Buffer: 1024})
		if err != nil {
			return fmt.Errorf("runtime: worker: subscribe to run events: %w", err)
		}
		defer sub.Close()
		wg.Go(func() { w.watch(ctx, sub) })
	}
	for range w.cfg.workers {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	return nil
}

// watch cancels local executions of runs that ended elsewhere.
func (w *Worker) watch(ctx context.Context, sub Subscription) {
	for ev := range sub.Events() {
		if ev.Dropped > 0 {
			w.sweep(ctx)
		}
		w.cancelRun(ev.RunID, endCause(ev))
	}
}

// sweep cancels local executions of every run that has ended, after events
// were lost.
func (w *Worker) sweep(ctx context.Context) {
	w.mu.Lock()
	ids := make([]string, 0, len(w.runs))
	for id := range w.runs {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	for _, id := range ids {
		if r, err := w.cfg.store.Get(ctx, id); err == nil && r.Status.Terminal() {
			w.cancelRun(id, r.Err())
		}
	}
}

func (w *Worker) loop(ctx context.Context) {
	j := newJob(w)
	for {
		d, err := w.cfg.broker.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, driver.ErrBrokerClosed) {
				return
			}
			w.cfg.log.Error("taskwire: receive task", "err", err)
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		w.handle(ctx, d, j)
	}
}

// acquire returns the run's shared context, derived from the worker's ctx.
func (w *Worker) acquire(ctx context.Context, runID string) *runCtx {
	w.mu.Lock()
	defer w.mu.Unlock()
	rc := w.runs[runID]
	if rc == nil {
		ctx, cancel := context.WithCancelCause(ctx)
		rc = &runCtx{ctx: ctx, cancel: cancel}
		w.runs[runID] = rc
	}
	rc.refs++
	return rc
}

func (w *Worker) release(runID string, rc *runCtx) {
	w.mu.Lock()
	rc.refs--
	last := rc.refs == 0
	if last && w.runs[runID] == rc {
		delete(w.runs, runID)
	}
	w.mu.Unlock()
	if last {
		rc.cancel(nil)
	}
}

// cancelRun cancels this worker's executions of the run with cause.
func (w *Worker) cancelRun(runID string, cause error) {
	w.mu.Lock()
	rc := w.runs[runID]
	w.mu.Unlock()
	if rc != nil {
		rc.cancel(cause)
	}
}

// jobOp names the transition a job applies.
type jobOp int

const (
	opBegin jobOp = iota
	opComplete
	opTimeout
	opRetry
	opFail
)

// job is a worker goroutine's scratch space for one delivery, reused from
// one delivery to the next so that the hot path allocates little: apply is
// bound once and reads its parameters from the job.
type job struct {
	w       *Worker
	o       outcome
	apply   func(*driver.RunRecord) error
	op      jobOp
	pl      *plan
	ti      int
	index   int
	attempt int
	out     Value
	text    string
	delay   time.Duration
}

func newJob(w *Worker) *job {
	j := &job{w: w}
	j.apply = j.transition
	return j
}

// transition applies j.op to the record inside Store.Update.
func (j *job) transition(rec *driver.RunRecord) error {
	j.o.reset()
	if j.ti >= len(rec.Tasks) || rec.Tasks[j.ti].Name != j.pl.tasks[j.ti].def.Name {
		return fmt.Errorf("%w: run %s was started with another definition of pipeline %q", ErrInvalidPipeline, rec.ID, rec.PipelineID)
	}
	now := j.w.cfg.now()
	switch j.op {
	case opBegin:
		return j.pl.begin(rec, j.ti, j.index, j.attempt, now, &j.o)
	case opComplete:
		return j.pl.complete(rec, j.ti, j.index, j.out, now, &j.o)
	case opTimeout:
		return j.pl.timeout(rec, now, &j.o)
	case opRetry:
		return j.pl.retry(rec, j.ti, j.index, j.attempt, j.text, j.delay, now, &j.o)
	default:
		return j.pl.fail(rec, j.ti, j.index, j.attempt, j.text, now, &j.o)
	}
}

// run applies op to the run's record.
func (j *job) run(ctx context.Context, runID string, op jobOp) error {
	j.op = op
	return j.w.cfg.store.Update(ctx, runID, j.apply)
}

// handle executes one delivery: begin (record the start and read inputs),
// call the task function, then record success, a retry or the failure.
func (w *Worker) handle(ctx context.Context, d driver.Delivery, j *job) {
	msg := d.Message()
	pl, ok := w.reg.plan(msg.PipelineID)
	if !ok {
		_ = d.Term(fmt.Sprintf("unknown pipeline %q", msg.PipelineID))
		return
	}
	ti, ok := pl.index[msg.Task]
	if !ok {
		_ = d.Term(fmt.Sprintf("pipeline %q has no task %q", msg.PipelineID, msg.Task))
		return
	}
	pt := &pl.tasks[ti]
	attempt := d.Attempt()
	j.pl, j.ti, j.index, j.attempt, j.out, j.text, j.delay = pl, ti, msg.Index, attempt, Value{}, "", 0
	o := &j.o
	// Acquire before begin: a cancellation committed after begin then
	// finds this execution's context.
	rc := w.acquire(ctx, msg.RunID)
	defer w.release(msg.RunID, rc)
	if err := j.run(ctx, msg.RunID, opBegin); err != nil {
		w.settleError(ctx, d, err)
		return
	}
	w.after(msg.RunID, o)
	if o.skip {
		_ = d.Ack()
		return
	}
	in := Inputs{names: pt.def.Inputs, vals: o.inputs, runID: msg.RunID, attempt: attempt, index: msg.Index}
	runDeadline, deadline := o.deadline, o.deadline
	taskDeadline := false
	if pt.def.Timeout > 0 {
		if td := w.cfg.now().Add(pt.def.Timeout); deadline.IsZero() || td.Before(deadline) {
			deadline, taskDeadline = td, true
		}
	}
	tctx, cancel := rc.ctx, context.CancelFunc(nil)
	if !deadline.IsZero() {
		tctx, cancel = context.WithDeadline(rc.ctx, deadline)
	}
	stopBeat := w.heartbeat(d)
	out, callErr := w.call(&taskContext{
		Context: tctx,
		info:    TaskInfo{RunID: msg.RunID, PipelineID: msg.PipelineID, Task: msg.Task, Attempt: attempt, Index: msg.Index},
		base:    w.cfg.log,
	}, pt.fn, in, msg)
	stopBeat()
	timedOut := taskDeadline && errors.Is(tctx.Err(), context.DeadlineExceeded)
	if cancel != nil {
		cancel()
	}

	var err error
	switch {
	case callErr == nil:
		j.out = ValueOf(out)
		err = j.run(ctx, msg.RunID, opComplete)
	case ctx.Err() != nil:
		_ = d.Nak(0) // the worker is stopping: leave the task to another one
		return
	case rc.ctx.Err() != nil:
		_ = d.Ack() // the run ended elsewhere (cancelled, failed, timed out)
		return
	case !runDeadline.IsZero() && !w.cfg.now().Before(runDeadline):
		err = j.run(ctx, msg.RunID, opTimeout)
	default:
		if timedOut {
			callErr = fmt.Errorf("%w: took longer than %s: %w", ErrTaskTimeout, pt.def.Timeout, callErr)
		}
		j.text = callErr.Error()
		if !IsPermanent(callErr) && attempt < pt.def.Retry.attempts() {
			j.delay = pt.def.Retry.Delay(attempt)
			if err := j.run(ctx, msg.RunID, opRetry); err != nil {
				w.settleError(ctx, d, err)
				return
			}
			w.after(msg.RunID, o)
			if o.skip {
				_ = d.Ack()
			} else {
				_ = d.Nak(j.delay)
			}
			return
		}
		if err = j.run(ctx, msg.RunID, opFail); err == nil {
			w.after(msg.RunID, o)
			_ = d.Term(j.text)
			return
		}
	}
	if err != nil {
		w.settleError(ctx, d, err)
		return
	}
	w.after(msg.RunID, o)
	_ = d.Ack()
}

// settleError settles a delivery whose store update failed.
func (w *Worker) settleError(ctx context.Context, d driver.Delivery, err error) {
	switch {
	case errors.Is(err, ErrRunNotFound), errors.Is(err, ErrInvalidPipeline):
		_ = d.Term(err.Error())
	case ctx.Err() != nil:
		_ = d.Nak(0)
	default:
		w.cfg.log.Error("taskwire: update run", "run", d.Message().RunID, "task", d.Message().Task, "err", err)
		_ = d.Nak(time.Second)
	}
}

// after carries out a stored transition: publish its events, enqueue the
// tasks it made ready, and cancel local executions of a run it ended.
func (w *Worker) after(runID string, o *outcome) {
	// Effects of a stored transition must not be cut short by shutdown.
	ctx := context.Background()
	publish(ctx, w.cfg.bus, w.cfg.log, o.events)
	for _, m := range o.msgs {
		if err := w.cfg.broker.Enqueue(ctx, m); err != nil {
			w.failEnqueue(ctx, m, err)
		}
	}
	if o.ended != "" {
		if o.ended != RunSucceeded {
			w.cancelRun(runID, fmt.Errorf("%w: %s", errForStatus(o.ended), o.ended))
		}
		if w.onEnd != nil {
			w.onEnd(runID)
		}
	}
}

// failEnqueue fails a run whose ready task could not be enqueued, rather
// than leaving it waiting forever.
func (w *Worker) failEnqueue(ctx context.Context, m driver.TaskMessage, cause error) {
	w.cfg.log.Error("taskwire: enqueue task", "run", m.RunID, "task", m.Task, "err", cause)
	pl, ok := w.reg.plan(m.PipelineID)
	if !ok {
		return
	}
	var o outcome
	err := w.cfg.store.Update(ctx, m.RunID, func(rec *driver.RunRecord) error {
		o.reset()
		if rec.Status.Terminal() {
			return driver.ErrNoChange
		}
		pl.endRun(rec, RunFailed, fmt.Sprintf("task %q could not be enqueued: %v", m.Task, cause), w.cfg.now(), &o)
		return nil
	})
	if err == nil {
		publish(ctx, w.cfg.bus, w.cfg.log, o.events)
		if o.ended != "" {
			w.cancelRun(m.RunID, ErrRunFailed)
			if w.onEnd != nil {
				w.onEnd(m.RunID)
			}
		}
	}
}

// endCause is the context cancellation cause for a run-ended event.
func endCause(ev Event) error {
	sentinel := ErrRunFailed
	if ev.Type == EventRunCancelled {
		sentinel = ErrRunCancelled
	}
	return fmt.Errorf("%w: %s", sentinel, ev.Error)
}

func errForStatus(s RunStatus) error {
	if s == RunCancelled {
		return ErrRunCancelled
	}
	return ErrRunFailed
}

// publish publishes evs in order, logging failures: events are
// notifications, and the run state in the store stays authoritative.
func publish(ctx context.Context, bus driver.EventBus, log *slog.Logger, evs []Event) {
	for _, ev := range evs {
		if err := bus.Publish(ctx, ev); err != nil {
			log.Error("taskwire: publish event", "type", ev.Type, "run", ev.RunID, "err", err)
		}
	}
}

// call runs fn, turning a panic into a permanent task failure.
func (w *Worker) call(ctx context.Context, fn TaskFunc, in Inputs, msg driver.TaskMessage) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			w.cfg.log.Error("taskwire: task panicked", "run", msg.RunID, "task", msg.Task, "panic", r, "stack", string(debug.Stack()))
			out, err = nil, Permanent(fmt.Errorf("%w: %v", ErrTaskPanicked, r))
		}
	}()
	return fn(ctx, in)
}

func noop() {}

// heartbeat calls d.InProgress periodically until the returned stop is
// called.
func (w *Worker) heartbeat(d driver.Delivery) (stop func()) {
	if w.cfg.heartbeat <= 0 {
		return noop
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.cfg.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				_ = d.InProgress()
			}
		}
	}()
	return func() { close(quit); <-done }
}
