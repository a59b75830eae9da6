// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/driver"
	"github.com/taskwire/taskwire/runtime/internal/fault"
)

// Worker executes task messages from a Broker. An Engine runs one in
// process unless WithWorkers(0); a separate process (for example a
// JetStream worker) creates its own with NewWorker and calls Run. All state
// goes through the Store and the EventBus, so workers and engines may live
// in different processes.
type Worker struct {
	reg     *Registry
	cfg     config
	id      string // host:pid, named in the errors of tasks it lacks
	control bool   // subscribe to run-ended events to cancel local tasks

	running atomic.Bool
	// calls counts the task functions running on goroutines of their own
	// (see execute), abandoned ones included.
	calls sync.WaitGroup
	mu    sync.Mutex
	runs  map[string]*runCtx

	// onEnd, if set, is told about every run this worker ends.
	onEnd func(runID string, status RunStatus, errText string)
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
	host, _ := os.Hostname()
	w := &Worker{reg: reg, cfg: cfg, control: control, runs: make(map[string]*runCtx), id: host + ":" + strconv.Itoa(os.Getpid())}
	if cfg.workers > 0 {
		w.warnMapCap()
	}
	return w
}

// warnMapCap logs the map tasks whose concurrency this worker's slots
// cap: their elements beyond the slots wait for one (other workers of the
// deployment may run them meanwhile).
func (w *Worker) warnMapCap() {
	for _, p := range w.reg.Pipelines() {
		for _, t := range p.Tasks {
			if conc := cmp.Or(t.MapConcurrency, DefaultMapConcurrency); t.Map != "" && conc > w.cfg.workers {
				w.cfg.log.Warn("taskwire: a map task may run more elements at once than this process has worker slots; the elements beyond them wait for a slot (raise WithWorkers, or -workers)",
					"pipeline", p.ID, "task", t.Name, "concurrency", conc, "workers", w.cfg.workers)
			}
		}
	}
}

// Run executes tasks until ctx is done, then waits for the executions in
// flight: their contexts are cancelled, and their messages are handed back
// to the broker for redelivery without being recorded as failures. It
// also waits for the task functions whose attempts ended at their deadline
// without them (see Task.Timeout). A Worker runs once; a second call
// returns an error.
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
	w.calls.Wait()
	return nil
}

// watch cancels local executions of runs that ended elsewhere.
func (w *Worker) watch(ctx context.Context, sub Subscription) {
	for ev := range sub.Events() {
		if ev.Dropped > 0 {
			w.sweep(ctx)
		}
		if f, ok := w.cfg.store.(driver.Forgetter); ok {
			f.Forget(ev.RunID)
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
		for j.next != nil { // the task it made ready, run here on d
			d, j.next = j.next, nil
			w.handle(ctx, d, j)
		}
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
	if rc != nil {
		// Later executions of the run (after a requeue) get a context of
		// their own; release still cancels and forgets this one.
		delete(w.runs, runID)
	}
	w.mu.Unlock()
	if rc != nil {
		rc.cancel(cause)
	}
}

// jobOp names the transition a job applies.
type jobOp int

const (
	opBegin jobOp = iota
	opStarted
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
	// errID is the id under which text, a task's own error, was logged;
	// empty for taskwire's own errors and errors marked safe.
	errID string
	delay time.Duration
	// begun is whether begin writes the attempt's start, and at when the
	// attempt started. An attempt whose start begin does not write has it
	// written after RunningAfter, or with its end.
	begun bool
	at    time.Time
	// next is the continuation the delivery's handling left to run next
	// (see driver.Continuer), or nil.
	next driver.Delivery
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
	if j.op > opStarted && !j.begun {
		_ = j.pl.started(rec, j.ti, j.index, j.attempt, j.at)
	}
	switch j.op {
	case opBegin:
		return j.pl.begin(rec, j.ti, j.index, j.attempt, now, &j.o, j.begun)
	case opStarted:
		return j.pl.started(rec, j.ti, j.index, j.attempt, j.at)
	case opComplete:
		return j.pl.complete(rec, j.ti, j.index, j.attempt, j.out, now, &j.o)
	case opTimeout:
		return j.pl.timeout(rec, now, &j.o)
	case opRetry:
		return j.pl.retry(rec, j.ti, j.index, j.attempt, j.text, j.errID, j.delay, now, &j.o)
	default:
		return j.pl.fail(rec, j.ti, j.index, j.attempt, j.text, j.errID, now, &j.o)
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
	fault.At(fault.Received)
	msg := d.Message()
	pl, ok := w.reg.plan(msg.PipelineID)
	if !ok {
		w.unknown(ctx, d, fmt.Sprintf("pipeline %q", msg.PipelineID))
		return
	}
	ti, ok := pl.index[msg.Task]
	if !ok {
		w.unknown(ctx, d, fmt.Sprintf("task %q of pipeline %q", msg.Task, msg.PipelineID))
		return
	}
	pt := &pl.tasks[ti]
	attempt := d.Attempt()
	j.pl, j.ti, j.index, j.attempt, j.out, j.text, j.errID, j.delay = pl, ti, msg.Index, attempt, Value{}, "", "", 0
	j.begun, j.at = w.cfg.runningAfter <= 0, w.cfg.now()
	o := &j.o
	// Acquire before begin: a cancellation committed after begin then
	// finds this execution's context.
	rc := w.acquire(ctx, msg.RunID)
	defer w.release(msg.RunID, rc)
	if err := j.run(ctx, msg.RunID, opBegin); err != nil {
		w.settleError(ctx, d, err)
		return
	}
	if !w.effects(ctx, d, o) {
		return
	}
	if o.skip {
		_ = d.Ack()
		return
	}
	vals, err := w.inputs(ctx, pt, o.inputs, msg.Index)
	if err != nil {
		if errors.Is(err, ErrDecode) { // the map input is no list of that length: no retry helps
			j.text = err.Error()
			w.failAttempt(ctx, d, j)
			return
		}
		w.cfg.log.Error("taskwire: read task inputs", "run_id", msg.RunID, "task", msg.Task, "index", msg.Index, "err", err)
		if ctx.Err() != nil {
			_ = d.Nak(0)
		} else {
			_ = d.Nak(time.Second)
		}
		return
	}
	in := Inputs{names: pt.def.Inputs, vals: vals, runID: msg.RunID, attempt: attempt, index: msg.Index}
	// How long the attempt may run, by this worker's clock: until the
	// run's deadline, or for the task's timeout if that ends first. The
	// context counts it in real time (the clock may be a test's).
	runDeadline := o.deadline
	limit, limited, taskDeadline := time.Duration(0), !runDeadline.IsZero(), false
	if limited {
		limit = runDeadline.Sub(w.cfg.now())
	}
	if pt.def.Timeout > 0 && (!limited || pt.def.Timeout < limit) {
		limit, limited, taskDeadline = pt.def.Timeout, true, true
	}
	tctx, cancel := rc.ctx, context.CancelFunc(nil)
	if limited {
		tctx, cancel = context.WithTimeout(rc.ctx, limit)
	}
	var span trace.Span
	if w.cfg.tracer != nil {
		tctx, span = w.cfg.startAttemptSpan(tctx, msg, attempt)
	}
	// The heartbeat goes on until d is settled: storing a large output can
	// take longer than the broker waits for news.
	defer w.heartbeat(d)()
	stopRunning := w.recordStart(msg.RunID, j)
	began := time.Now()
	out, callErr := w.execute(ctx, &taskContext{
		Context: tctx,
		info:    TaskInfo{RunID: msg.RunID, PipelineID: msg.PipelineID, Task: msg.Task, Attempt: attempt, Index: msg.Index},
		base:    w.cfg.log,
	}, limited, pt.fn, in, msg)
	if w.cfg.obs != nil {
		w.cfg.obs.AttemptDone(msg.PipelineID, msg.Task, time.Since(began))
	}
	if span != nil {
		endAttemptSpan(span, callErr)
	}
	stopRunning()
	fault.At(fault.Executed)
	timedOut := taskDeadline && errors.Is(tctx.Err(), context.DeadlineExceeded)
	if cancel != nil {
		cancel()
	}

	switch {
	case callErr == nil:
		j.out = ValueOf(out)
		err = j.run(ctx, msg.RunID, opComplete)
		if driver.Deterministic(err) { // an output the store can never keep: no retry helps
			j.text = fmt.Sprintf("its output cannot be stored: %v", err)
			w.cfg.log.Error("taskwire: "+j.text, "run_id", msg.RunID, "task", msg.Task, "index", msg.Index)
			w.failAttempt(ctx, d, j)
			return
		}
	case ctx.Err() != nil:
		_ = d.Nak(0) // the worker is stopping: leave the task to another one
		return
	case rc.ctx.Err() != nil:
		// The run ended elsewhere (cancelled, failed, timed out), unless
		// it was requeued since and the cancellation was its earlier end:
		// then this execution is handed back, to run in the reopened run.
		if r, err := w.cfg.store.Get(ctx, msg.RunID); err == nil && !r.Status.Terminal() {
			_ = d.Nak(0)
			return
		}
		_ = d.Ack()
		return
	case !runDeadline.IsZero() && !w.cfg.now().Before(runDeadline):
		err = j.run(ctx, msg.RunID, opTimeout)
	default:
		if timedOut {
			callErr = fmt.Errorf("%w: took longer than %s: %w", ErrTaskTimeout, pt.def.Timeout, callErr)
		}
		j.text, j.errID = w.failure(callErr, timedOut, pt.def.Timeout, msg, attempt)
		if !IsPermanent(callErr) && attempt < pt.def.Retry.attempts() {
			j.delay = pt.def.Retry.Delay(attempt)
			if err := j.run(ctx, msg.RunID, opRetry); err != nil {
				w.settleError(ctx, d, err)
				return
			}
			if !w.effects(ctx, d, o) {
				return
			}
			if o.skip {
				_ = d.Ack()
			} else {
				_ = d.Nak(j.delay)
			}
			return
		}
		w.failAttempt(ctx, d, j)
		return
	}
	if err != nil {
		w.settleError(ctx, d, err)
		return
	}
	fault.At(fault.Recorded)
	next := w.continuation(d, o)
	if w.effects(ctx, d, o) {
		fault.At(fault.Enqueued)
		if next != nil {
			j.next = next // settles d
			return
		}
		_ = d.Ack()
	}
}

// continuation takes out of o, the outcome of d's completed task, a task
// it made ready for this worker to run next on d (driver.Continuer), and
// returns that continuation; nil if the broker has none or no task is fit.
// A task is fit if it is not a map task's element, this worker has it, and
// it has no retries: the attempt of a continuation is not a broker's
// delivery, and a retry is one.
func (w *Worker) continuation(d driver.Delivery, o *outcome) driver.Delivery {
	c, ok := w.cfg.broker.(driver.Continuer)
	if !ok {
		return nil
	}
	runID := d.Message().RunID
	for k, m := range o.msgs {
		if m.RunID != runID || m.Index != -1 {
			continue
		}
		pl, ok := w.reg.plan(m.PipelineID)
		if !ok {
			continue
		}
		ti, ok := pl.index[m.Task]
		if !ok || pl.tasks[ti].mapSlot >= 0 || pl.tasks[ti].def.Retry.attempts() > 1 {
			continue
		}
		o.msgs = append(o.msgs[:k:k], o.msgs[k+1:]...)
		return &continued{Delivery: c.Continue(d, m), w: w, pl: pl, ti: ti}
	}
	return nil
}

// continued is a continuation as the worker runs it: handed back (Nak), an
// attempt whose start was recorded goes back to pending first, so that
// the message enqueued for it is not taken for a duplicate of this one.
type continued struct {
	driver.Delivery
	w  *Worker
	pl *plan
	ti int
}

func (c *continued) Nak(delay time.Duration) error {
	runID := c.Message().RunID
	err := c.w.cfg.store.Update(context.Background(), runID, func(rec *driver.RunRecord) error {
		return c.pl.giveBack(rec, c.ti)
	})
	if err != nil && !errors.Is(err, ErrRunNotFound) {
		c.w.cfg.log.Warn("taskwire: hand a continuation back", "run_id", runID, "task", c.Message().Task, "err", err)
	}
	return c.Delivery.Nak(delay)
}

// failAttempt records the final failure of j's attempt, with j.text as
// its reason, and terminates its delivery d.
func (w *Worker) failAttempt(ctx context.Context, d driver.Delivery, j *job) {
	if err := j.run(ctx, d.Message().RunID, opFail); err != nil {
		w.settleError(ctx, d, err)
		return
	}
	if w.effects(ctx, d, &j.o) {
		_ = d.Term(driver.TaggedReason(j.errID, j.text))
	}
}

// failure logs the failed attempt's error err, with its stack for a
// panic, and returns what the run records of it: text, and the id under
// which the log holds it when text is the task's own (clients then see a
// stable message naming the id instead, see driver.PublicError). Errors
// clients may see as they are get no id: taskwire's own (task timeouts,
// NotImplemented) and those a task marked safe (SafeError, PublicMessager);
// for those text is the message to show.
func (w *Worker) failure(err error, timedOut bool, timeout time.Duration, msg driver.TaskMessage, attempt int) (text, id string) {
	var pm PublicMessager
	switch {
	case timedOut:
		// The task's own error may wrap the deadline with its text.
		text = fmt.Sprintf("%v: took longer than %s: %v", ErrTaskTimeout, timeout, context.DeadlineExceeded)
	case errors.As(err, &pm):
		text = pm.PublicMessage()
	case errors.Is(err, ErrNotImplemented):
		text = err.Error()
	default:
		text, id = err.Error(), w.cfg.newID()
	}
	attrs := []any{"run_id", msg.RunID, "task", msg.Task, "index", msg.Index, "attempt", attempt, "err", err.Error()}
	if id != "" {
		attrs = append(attrs, "error_id", id)
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.stack))
	}
	w.cfg.log.Error("taskwire: task attempt failed", attrs...)
	return text, id
}

// panicError is the error of an attempt whose task function panicked:
// its text holds the panic value, and the stack goes to the log only.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("%v: %v", ErrTaskPanicked, e.value) }

func (e *panicError) Unwrap() error { return ErrTaskPanicked }

// inputs returns the values an execution of pt is called with, from the
// values begin read from the record: deferred values are fetched, and a
// map task's list is replaced by its element index. This runs outside the
// store's update, and a list's elements are split once however many
// elements are read (see driver.Value.Len).
func (w *Worker) inputs(ctx context.Context, pt *planTask, vals []Value, index int) ([]Value, error) {
	for k, v := range vals {
		got, err := driver.Load(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", pt.def.Inputs[k], err)
		}
		if k == pt.mapSlot {
			if got, err = got.Index(index); err != nil {
				return nil, fmt.Errorf("map input %q: %w", pt.def.Map, err)
			}
		}
		vals[k] = got
	}
	return vals, nil
}

// effectsRetry is how long a delivery whose effects could not all be
// carried out waits before its redelivery carries them out again.
const effectsRetry = time.Second

// effects carries out the stored transition of delivery d (see apply) and
// reports whether d may now be settled. d is never settled before its
// effects are: when the worker stops first, d is handed back, and its
// redelivery carries the effects out again (see plan.redrive); when the
// broker refuses a message for longer than the retry bound, the run fails
// with the reason and d is acknowledged.
func (w *Worker) effects(ctx context.Context, d driver.Delivery, o *outcome) bool {
	msg := d.Message()
	m, err := w.apply(ctx, msg.RunID, o)
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		_ = d.Nak(0)
	case w.failEnqueue(ctx, m, err):
		_ = d.Ack()
	default:
		_ = d.Nak(effectsRetry)
	}
	return false
}

// unknown handles a delivery of a pipeline or task this worker does not
// have (what): another worker of the deployment may have it (a rolling
// upgrade, or services sharing one broker by mistake), so the message goes
// back to the broker with a growing delay. Once it has waited
// WithUnknownTaskTimeout, or at its last delivery, its run fails with an
// error that says which worker lacked what, and the message is
// dead-lettered.
func (w *Worker) unknown(ctx context.Context, d driver.Delivery, what string) {
	msg := d.Message()
	waited := w.cfg.now().Sub(d.Enqueued())
	if waited < w.cfg.unknownTimeout && !d.Last() {
		w.cfg.log.Warn("taskwire: worker lacks a task; handing it back for another worker", "worker", w.id, "lacks", what, "run_id", msg.RunID, "waited", waited)
		_ = d.Nak(min(max(waited/2, 50*time.Millisecond), time.Second, w.cfg.unknownTimeout))
		return
	}
	reason := fmt.Sprintf("no worker ran task %q of pipeline %q within %s: worker %s lacks %s (it has pipelines %s)",
		msg.Task, msg.PipelineID, waited.Round(time.Millisecond), w.id, what, w.reg.describe())
	w.cfg.log.Error("taskwire: "+reason, "run_id", msg.RunID)
	if err := w.failRun(ctx, msg.RunID, reason); err != nil && !errors.Is(err, ErrRunNotFound) {
		w.settleError(ctx, d, err)
		return
	}
	_ = d.Term(reason)
}

// recordStart writes the start of j's attempt once it has run for the
// backend's RunningAfter, unless begin wrote it; stop cancels that if the
// attempt ends first (its end then records its start). Only attempts that
// last are seen running: each short one costs one write, not two.
func (w *Worker) recordStart(runID string, j *job) (stop func()) {
	if j.begun {
		return noop
	}
	// The job is reused by the next delivery: the write gets its own.
	sj := &job{w: w, op: opStarted, pl: j.pl, ti: j.ti, index: j.index, attempt: j.attempt, at: j.at, begun: true}
	sj.apply = sj.transition
	t := time.AfterFunc(w.cfg.runningAfter, func() {
		if err := w.cfg.store.Update(context.Background(), runID, sj.apply); err != nil && !errors.Is(err, ErrRunNotFound) {
			w.cfg.log.Warn("taskwire: record a task's start", "run_id", runID, "task", sj.pl.tasks[sj.ti].def.Name, "err", err)
		}
	})
	return func() { t.Stop() }
}

// settleError settles a delivery whose store update failed. An error no
// retry fixes (driver.Deterministic) fails the run with it as the reason
// rather than handing the message back to meet it again.
func (w *Worker) settleError(ctx context.Context, d driver.Delivery, err error) {
	switch {
	case errors.Is(err, ErrRunNotFound), errors.Is(err, ErrInvalidPipeline):
		_ = d.Term(err.Error())
	case driver.Deterministic(err):
		msg := d.Message()
		reason := fmt.Sprintf("task %q could not be recorded: %v", msg.Task, err)
		if msg.Index >= 0 {
			reason = fmt.Sprintf("task %q element %d could not be recorded: %v", msg.Task, msg.Index, err)
		}
		w.cfg.log.Error("taskwire: "+reason, "run_id", msg.RunID)
		if ferr := w.failRun(ctx, msg.RunID, reason); ferr != nil && !errors.Is(ferr, ErrRunNotFound) {
			w.cfg.log.Error("taskwire: fail run", "run_id", msg.RunID, "err", ferr)
		}
		_ = d.Term(reason)
	case ctx.Err() != nil:
		_ = d.Nak(0)
	default:
		w.cfg.log.Error("taskwire: update run", "run_id", d.Message().RunID, "task", d.Message().Task, "err", err)
		_ = d.Nak(time.Second)
	}
}

// after carries out a stored transition made outside any delivery (a run
// started or resumed): as apply, but a task that cannot be enqueued fails
// its run, since no redelivery would enqueue it again.
func (w *Worker) after(runID string, o *outcome) {
	ctx := context.Background()
	if m, err := w.apply(ctx, runID, o); err != nil {
		w.failEnqueue(ctx, m, err)
	}
}

// apply carries out a stored transition: publish its events, enqueue the
// tasks it made ready (retrying through a broker outage for up to
// WithBrokerRetry, unless ctx ends first), and cancel local executions of a
// run it ended. It stops at the first message the broker keeps refusing and
// returns it.
func (w *Worker) apply(ctx context.Context, runID string, o *outcome) (driver.TaskMessage, error) {
	// The calls themselves are not cut short by shutdown: ctx only ends
	// the waits between them.
	call := context.WithoutCancel(ctx)
	if w.cfg.obs != nil {
		w.cfg.observeOutcome(o)
	}
	publish(call, w.cfg.bus, w.cfg.log, o.events)
	for _, m := range o.msgs {
		if err := w.enqueue(ctx, call, m); err != nil {
			return m, err
		}
	}
	w.ended(runID, o)
	return driver.TaskMessage{}, nil
}

// enqueue enqueues m, retrying with backoff for up to the broker retry
// bound while the broker refuses it.
func (w *Worker) enqueue(ctx, call context.Context, m driver.TaskMessage) error {
	return driver.Retry(ctx, w.cfg.brokerRetry, 20*time.Millisecond,
		func(err error) bool { return !errors.Is(err, driver.ErrBrokerClosed) },
		func(wait time.Duration, err error) {
			w.cfg.log.Warn("taskwire: enqueue task; retrying", "run_id", m.RunID, "task", m.Task, "in", wait, "err", err)
		},
		func() error { return w.cfg.broker.Enqueue(call, m) })
}

// ended cancels local executions of a run the transition ended and tells
// onEnd.
func (w *Worker) ended(runID string, o *outcome) {
	if o.ended != "" {
		if o.ended != RunSucceeded {
			w.cancelRun(runID, fmt.Errorf("%w: %s", errForStatus(o.ended), o.ended))
		}
		if w.onEnd != nil {
			w.onEnd(runID, o.ended, o.endError())
		}
	}
}

// failEnqueue fails a run whose ready task could not be enqueued, rather
// than leaving it waiting forever, and reports whether the run has ended.
func (w *Worker) failEnqueue(ctx context.Context, m driver.TaskMessage, cause error) bool {
	w.cfg.log.Error("taskwire: enqueue task", "run_id", m.RunID, "task", m.Task, "err", cause)
	err := w.failRun(ctx, m.RunID, fmt.Sprintf("task %q could not be enqueued: %v", m.Task, cause))
	if err != nil {
		w.cfg.log.Error("taskwire: fail run", "run_id", m.RunID, "err", err)
	}
	return err == nil
}

// failRun ends a run failed with reason unless it has ended already; its
// events are published and this worker's executions of it cancelled.
func (w *Worker) failRun(ctx context.Context, runID, reason string) error {
	var o outcome
	err := w.cfg.store.Update(ctx, runID, func(rec *driver.RunRecord) error {
		o.reset()
		if rec.Status.Terminal() {
			return driver.ErrNoChange
		}
		endRun(rec, RunFailed, reason, w.cfg.now(), &o)
		return nil
	})
	if err != nil {
		return err
	}
	if w.cfg.obs != nil {
		w.cfg.observeOutcome(&o)
	}
	publish(context.WithoutCancel(ctx), w.cfg.bus, w.cfg.log, o.events)
	w.ended(runID, &o)
	return nil
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
			log.Error("taskwire: publish event", "type", ev.Type, "run_id", ev.RunID, "err", err)
		}
	}
}

// Where a call of execute stands: running, returned (its result is the
// attempt's), or abandoned (its attempt ended without it).
const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

// execute calls fn for one attempt. An attempt with a deadline (its task's
// timeout or its run's) ends at that deadline, or when its run ends,
// whatever fn does: fn then runs on a goroutine of its own, and if it has
// not returned when tctx is done, execute returns tctx's error at once;
// fn's result, when it comes, is discarded and logged. Only the worker's
// own stop (ctx done) waits for fn, as for an attempt without a deadline,
// so that a stopping worker never hands back a task still running here.
// Run waits for every abandoned call before it returns.
func (w *Worker) execute(ctx context.Context, tctx *taskContext, limited bool, fn TaskFunc, in Inputs, msg driver.TaskMessage) (any, error) {
	if !limited {
		return w.call(tctx, fn, in, msg)
	}
	type result struct {
		out any
		err error
	}
	var state atomic.Int32
	res := make(chan result, 1)
	w.calls.Add(1)
	go func() {
		defer w.calls.Done()
		out, err := w.call(tctx, fn, in, msg)
		if state.CompareAndSwap(callRunning, callReturned) {
			res <- result{out, err}
			return
		}
		late := "<nil>"
		if err != nil {
			late = err.Error()
		}
		w.cfg.log.Warn("taskwire: task returned after its attempt had ended; its result is discarded",
			"run_id", msg.RunID, "task", msg.Task, "index", msg.Index, "attempt", in.attempt, "err", late)
	}()
	select {
	case r := <-res:
		return r.out, r.err
	case <-tctx.Done():
	}
	if ctx.Err() == nil && state.CompareAndSwap(callRunning, callAbandoned) {
		return nil, tctx.Err()
	}
	r := <-res // it returned with the deadline, or the worker is stopping
	return r.out, r.err
}

// call runs fn, turning a panic into a permanent task failure.
func (w *Worker) call(ctx context.Context, fn TaskFunc, in Inputs, msg driver.TaskMessage) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			// Logged with its stack by failure, under the error's id.
			out, err = nil, Permanent(&panicError{value: r, stack: debug.Stack()})
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
