// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/driver"
	"github.com/taskwire/taskwire/runtime/internal/fault"
)

// Engine starts and tracks pipeline runs. It starts each task as soon as
// all its inputs exist and runs independent tasks in parallel, bounded by
// WithWorkers. Create one with New and release it with Shutdown. An Engine
// is safe for concurrent use.
type Engine struct {
	reg    *Registry
	cfg    config
	worker *Worker // nil with WithWorkers(0)
	// effects carries out the engine's own transitions (publish, enqueue):
	// the embedded worker, or an idle one without workers.
	effects *Worker

	own *driver.Memory // the backend New made, closed by Shutdown; nil when given one

	stopWorkers context.CancelFunc
	workersDone chan struct{}
	ctl         Subscription
	ctlDone     chan struct{}

	// waiters are the Waits of this engine, woken by the run-ended events
	// ctl sees (one subscription for all of them, not one each).
	waitMu  sync.Mutex
	waiters map[string][]chan struct{}

	mu           sync.Mutex
	closing      bool
	starting     int                  // Start calls past the closing check
	active       map[string]activeRun // runs started here and not ended
	drained      chan struct{}        // closed once closing with no active run
	drainClosed  bool
	timersClosed bool
	timerCalls   sync.WaitGroup
	shutdownDone chan struct{}

	// bgStop ends the periodic jobs (retention, reconciliation); bg waits
	// for them.
	bgStop chan struct{}
	bg     sync.WaitGroup
}

// StartOptions tunes Start.
type StartOptions struct {
	// IdempotencyKey, when set, makes Start return the existing run of the
	// same pipeline started with the same key instead of starting another.
	IdempotencyKey string
	// Owner is who starts the run (the HTTP API's authenticated
	// principal); the run records it, and the HTTP API shows the run only
	// to its owner and to roles granted all_runs. The zero Owner records
	// no one: such a run is shown to every principal that may read its
	// pipeline.
	Owner Owner
}

// New returns an Engine running the pipelines of reg, and starts its
// workers. Without options it keeps everything in memory (a driver.Memory
// backend) and runs DefaultWorkers workers. Call Shutdown to
// stop it; it starts goroutines that only Shutdown ends.
func New(reg *Registry, opts ...Option) *Engine {
	if reg == nil {
		reg = NewRegistry()
	}
	e := &Engine{
		reg:          reg,
		cfg:          newConfig(opts),
		active:       make(map[string]activeRun),
		drained:      make(chan struct{}),
		shutdownDone: make(chan struct{}),
		workersDone:  make(chan struct{}),
		ctlDone:      make(chan struct{}),
		bgStop:       make(chan struct{}),
	}
	if e.cfg.backend == nil {
		e.own = driver.NewMemory()
		e.cfg.store, e.cfg.broker, e.cfg.bus = e.own.Runs, e.own.Tasks, e.own.Events
	}
	// The engine watches ended runs for every worker in its process, so the
	// embedded worker needs no watcher of its own.
	ctl, err := e.cfg.bus.Subscribe(context.Background(), EventFilter{Types: []EventType{EventRunSucceeded, EventRunFailed, EventRunCancelled}}, driver.SubscribeOptions{Buffer: 1024})
	if err != nil {
		e.cfg.log.Error("taskwire: subscribe to run events; runs ended by remote workers are noticed only at their timeout", "err", err)
		close(e.ctlDone)
	} else {
		e.ctl = ctl
		go e.watch()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopWorkers = cancel
	if e.cfg.workers > 0 {
		e.worker = newWorker(reg, e.cfg, false)
		e.worker.onEnd = e.untrack
		go func() {
			defer close(e.workersDone)
			_ = e.worker.Run(ctx)
		}()
		e.effects = e.worker
	} else {
		e.effects = newWorker(reg, e.cfg, false)
		e.effects.onEnd = e.untrack
		close(e.workersDone)
	}
	e.every(e.cfg.retentionInterval, "enforce retention", e.EnforceRetention)
	if _, ok := e.cfg.broker.(driver.LiveLister); ok {
		e.every(e.cfg.reconcileInterval, "reconcile runs with the broker", e.Reconcile)
	}
	return e
}

// Observer returns the observer given WithObserver, or nil.
func (e *Engine) Observer() Observer { return e.cfg.obs }

// Registry returns the registry the engine runs pipelines from.
func (e *Engine) Registry() *Registry { return e.reg }

// watch reacts to runs ended anywhere: it forgets them and cancels this
// process's executions of them.
func (e *Engine) watch() {
	defer func() {
		close(e.ctlDone)
		e.wake("")
	}()
	for ev := range e.ctl.Events() {
		if ev.Dropped > 0 {
			e.wake("") // their runs' end may be among the events lost
			e.sweep()
		}
		if e.worker != nil && ev.Type != EventRunSucceeded {
			e.worker.cancelRun(ev.RunID, endCause(ev))
		}
		e.forget(ev.RunID)
		e.untrack(ev.RunID, runStatusOf(ev.Type), ev.Error)
		e.wake(ev.RunID) // those of runs started elsewhere too
	}
}

// sweep forgets every tracked run that has ended, after events were lost.
func (e *Engine) sweep() {
	e.mu.Lock()
	ids := make([]string, 0, len(e.active))
	for id := range e.active {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		r, err := e.cfg.store.Get(context.Background(), id)
		if errors.Is(err, ErrRunNotFound) || (err == nil && r.Status.Terminal()) {
			if e.worker != nil && err == nil {
				e.worker.cancelRun(id, r.Err())
			}
			e.forget(id)
			if err == nil {
				e.untrack(id, r.Status, r.Error)
			} else {
				e.untrack(id, "", "")
			}
		}
	}
}

// forget tells a store that keeps state of unfinished runs (a cache, or
// the markers it keeps, see driver.Forgetter) that the run has ended.
func (e *Engine) forget(runID string) {
	if f, ok := e.cfg.store.(driver.Forgetter); ok {
		f.Forget(runID)
	}
}

// Start starts a run of the pipeline with the given inputs, one per
// declared pipeline input (a Value, a json.RawMessage or any Go value), and
// returns it, normally pending. It fails with ErrUnknownPipeline,
// ErrInvalidInput or ErrShuttingDown (all wrapped). With an idempotency key
// already used for this pipeline it returns the existing run.
func (e *Engine) Start(ctx context.Context, pipelineID string, inputs map[string]any, opts StartOptions) (*Run, error) {
	pl, ok := e.reg.plan(pipelineID)
	if !ok {
		return nil, fmt.Errorf("start: %w: %q", ErrUnknownPipeline, pipelineID)
	}
	vals, err := pl.bindInputs(inputs)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return e.start(ctx, pl, vals, opts, "")
}

// start stores and starts a run of pl with bound inputs vals; rerunOf names
// the run it re-runs, if any.
func (e *Engine) start(ctx context.Context, pl *plan, vals map[string]Value, opts StartOptions, rerunOf string) (*Run, error) {
	pipelineID := pl.p.ID
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil, fmt.Errorf("start: %w", ErrShuttingDown)
	}
	e.starting++
	e.mu.Unlock()
	defer e.doneStarting()

	o := &outcome{}
	rec := pl.newRecord(e.cfg.newID(), opts.IdempotencyKey, vals, e.cfg.now(), o)
	rec.RerunOf = rerunOf
	rec.Owner = opts.Owner
	if opts.IdempotencyKey != "" {
		rec.InputHash = inputHash(vals)
	}
	var span trace.Span
	if e.cfg.tracer != nil {
		span = e.cfg.startRunSpan(ctx, rec)
		for i := range o.msgs { // queued by newRecord, before the run had a span
			o.msgs[i].Trace = rec.Trace
		}
	}
	deadline := rec.Deadline
	run, created, err := e.cfg.store.Create(ctx, rec)
	if err != nil {
		if span != nil {
			span.RecordError(err)
			endRunSpan(span, RunFailed, err.Error())
		}
		return nil, fmt.Errorf("start pipeline %q: %w", pipelineID, err)
	}
	if !created {
		if span != nil { // the key's run is traced already, by whoever started it
			span.SetAttributes(AttrRunID.String(run.ID))
			span.End()
		}
		if h := run.InputHash(); h != "" && h != rec.InputHash {
			return nil, fmt.Errorf("start pipeline %q: %w: run %s was started with this key and other inputs", pipelineID, ErrIdempotencyKeyReused, run.ID)
		}
		if _, ok := e.cfg.broker.(driver.LiveLister); ok && run.Status == RunPending {
			e.carryStart(ctx, run.ID)
		}
		return run, nil
	}
	if run.Status.Terminal() {
		endRunSpan(span, run.Status, run.Error)
	} else {
		e.track(run.ID, pipelineID, deadline, span)
	}
	fault.At(fault.Created)
	e.effects.after(run.ID, o)
	return run, nil
}

// update applies fn, a transition of the run's pipeline noting its effects
// in o, to the run's record in the store.
func (e *Engine) update(ctx context.Context, runID string, o *outcome, fn func(*plan, *driver.RunRecord) error) error {
	return e.cfg.store.Update(ctx, runID, func(rec *driver.RunRecord) error {
		o.reset()
		pl, ok := e.reg.plan(rec.PipelineID)
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownPipeline, rec.PipelineID)
		}
		return fn(pl, rec)
	})
}

// carryStart enqueues again the first tasks of a pending run that a start
// with its idempotency key found: the start that created it may have
// failed after storing it (its answer lost, or its process killed) and
// before enqueuing them, and the client's retry is what finds it. Copies
// of tasks enqueued already are the broker's to drop, as for Resume: only
// brokers the engine reconciles (driver.LiveLister, JetStream) are asked,
// whose stores can answer a create with a timeout after storing it.
func (e *Engine) carryStart(ctx context.Context, runID string) {
	var o outcome
	err := e.update(ctx, runID, &o, func(pl *plan, rec *driver.RunRecord) error {
		return pl.resume(rec, e.cfg.now(), &o)
	})
	if err != nil {
		e.cfg.log.Warn("taskwire: carry forward a run found by its idempotency key", "run_id", runID, "err", err)
		return
	}
	e.effects.after(runID, &o)
}

// Run starts a run and waits for it to finish; see Start and Wait.
func (e *Engine) Run(ctx context.Context, pipelineID string, inputs map[string]any, opts StartOptions) (*Run, error) {
	r, err := e.Start(ctx, pipelineID, inputs, opts)
	if err != nil {
		return nil, err
	}
	return e.Wait(ctx, r.ID)
}

// Get returns the current state of a run, or an error wrapping
// ErrRunNotFound.
func (e *Engine) Get(ctx context.Context, runID string) (*Run, error) {
	return e.cfg.store.Get(ctx, runID)
}

// List returns runs newest first, filtered and paged by opts; see
// Store.List.
func (e *Engine) List(ctx context.Context, opts ListOptions) (RunPage, error) {
	return e.cfg.store.List(ctx, opts)
}

// Wait blocks until the run has finished and returns it; the run's own
// failure is reported by its Status, Error and Err, not by Wait's error.
// Wait fails if ctx is done first, if the run does not exist
// (ErrRunNotFound), or if the engine shuts down before the run ends
// (ErrShuttingDown).
func (e *Engine) Wait(ctx context.Context, runID string) (*Run, error) {
	if e.ctl == nil { // no run-ended events to share: a subscription of its own
		return e.waitSubscribed(ctx, runID)
	}
	since := e.cfg.now()
	for first := true; ; first = false {
		woken := e.addWaiter(runID)
		// A run this engine started and has not seen end has not ended,
		// and untrack wakes its waiters when it does: the read would
		// only find it running.
		if !first {
			if r, ok := e.endState(ctx, runID, since); ok {
				e.removeWaiter(runID, woken)
				return r, nil
			}
		}
		if !first || !e.tracked(runID) {
			r, err := e.cfg.store.Get(ctx, runID)
			if err != nil || r.Status.Terminal() {
				e.removeWaiter(runID, woken)
				return r, err
			}
		}
		select {
		case <-woken:
			select {
			case <-e.ctlDone:
				if r, err := e.cfg.store.Get(context.WithoutCancel(ctx), runID); err != nil || r.Status.Terminal() {
					return r, err
				}
				return nil, fmt.Errorf("wait for run %s: %w", runID, ErrShuttingDown)
			default:
			}
		case <-ctx.Done():
			e.removeWaiter(runID, woken)
			return nil, ctx.Err()
		}
	}
}

// endState returns the run as the run-ended event that woke a waiter left
// it, when the store has that state without a read (driver.EndReader) and
// the run ended after since, when the wait began.
func (e *Engine) endState(ctx context.Context, runID string, since time.Time) (*Run, bool) {
	er, ok := e.cfg.store.(driver.EndReader)
	if !ok {
		return nil, false
	}
	r, ok, err := er.End(ctx, runID, since)
	return r, ok && err == nil
}

// addWaiter returns a channel closed when a run-ended event of runID (or
// a loss of events) is seen.
func (e *Engine) addWaiter(runID string) chan struct{} {
	ch := make(chan struct{})
	e.waitMu.Lock()
	defer e.waitMu.Unlock()
	select {
	case <-e.ctlDone:
		close(ch) // no event will come: look at the store
		return ch
	default:
	}
	if e.waiters == nil {
		e.waiters = make(map[string][]chan struct{})
	}
	e.waiters[runID] = append(e.waiters[runID], ch)
	return ch
}

func (e *Engine) removeWaiter(runID string, ch chan struct{}) {
	e.waitMu.Lock()
	defer e.waitMu.Unlock()
	ws := e.waiters[runID]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(e.waiters, runID)
	} else {
		e.waiters[runID] = ws
	}
}

// wake wakes the waiters of runID, or every waiter when runID is empty.
func (e *Engine) wake(runID string) {
	e.waitMu.Lock()
	defer e.waitMu.Unlock()
	if runID != "" {
		for _, ch := range e.waiters[runID] {
			close(ch)
		}
		delete(e.waiters, runID)
		return
	}
	for id, ws := range e.waiters {
		for _, ch := range ws {
			close(ch)
		}
		delete(e.waiters, id)
	}
}

// waitSubscribed is Wait with a subscription to the run's events.
func (e *Engine) waitSubscribed(ctx context.Context, runID string) (*Run, error) {
	sub, err := e.Subscribe(ctx, EventFilter{RunID: runID, Types: []EventType{EventSnapshot, EventRunSucceeded, EventRunFailed, EventRunCancelled}}, 4)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	for {
		select {
		case ev, ok := <-sub.Events():
			if ok && ev.Type == EventSnapshot && ev.Run != nil && ev.Run.Status.Terminal() {
				return ev.Run, nil
			}
			if ok && !ev.Type.RunEnded() {
				continue
			}
			r, err := e.cfg.store.Get(context.WithoutCancel(ctx), runID)
			if err != nil {
				return nil, err
			}
			if r.Status.Terminal() {
				return r, nil
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("wait for run %s: %w", runID, ErrShuttingDown)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Cancel cancels a run that has not finished: it ends cancelled, and the
// contexts of its running tasks are cancelled, in this process at once and
// in worker processes when they see the run_cancelled event. It returns the
// cancelled run, or an error wrapping ErrRunNotFound or ErrRunFinished.
func (e *Engine) Cancel(ctx context.Context, runID string) (*Run, error) {
	if err := e.end(ctx, runID, func(pl *plan, rec *driver.RunRecord, now time.Time, o *outcome) error {
		return pl.cancel(rec, "run cancelled", now, o)
	}); err != nil {
		return nil, err
	}
	return e.cfg.store.Get(ctx, runID)
}

// end applies a run-ending transition made by the engine itself.
func (e *Engine) end(ctx context.Context, runID string, fn func(*plan, *driver.RunRecord, time.Time, *outcome) error) error {
	var o outcome
	err := e.cfg.store.Update(ctx, runID, func(rec *driver.RunRecord) error {
		o.reset()
		pl, ok := e.reg.plan(rec.PipelineID)
		if !ok {
			return fmt.Errorf("run %s: %w: %q", runID, ErrUnknownPipeline, rec.PipelineID)
		}
		return fn(pl, rec, e.cfg.now(), &o)
	})
	if err != nil {
		return err
	}
	if e.cfg.obs != nil {
		e.cfg.observeOutcome(&o)
	}
	publish(context.WithoutCancel(ctx), e.cfg.bus, e.cfg.log, o.events)
	if o.ended != "" {
		if e.worker != nil {
			e.worker.cancelRun(runID, fmt.Errorf("%w: %s", errForStatus(o.ended), o.ended))
		}
		e.untrack(runID, o.ended, o.endError())
	}
	return nil
}

// Subscribe returns a stream of events selected by f, buffering up to
// buffer events (DefaultEventBuffer if zero). Publishing never waits for a
// subscriber: one whose buffer is full loses events, counted by
// Subscription.Dropped and by Event.Dropped on the next event it receives.
// With f.RunID set, the first event is a snapshot of the run (type
// snapshot, with Run set), the stream ends after the run's terminal event,
// and an unknown run fails with ErrRunNotFound; an unknown f.PipelineID
// fails with ErrUnknownPipeline. The stream also ends when ctx is done, on
// Close, and on Shutdown.
func (e *Engine) Subscribe(ctx context.Context, f EventFilter, buffer int) (Subscription, error) {
	opts := driver.SubscribeOptions{Buffer: buffer}
	if f.RunID != "" {
		opts.Initial = func() ([]Event, error) {
			r, err := e.cfg.store.Get(ctx, f.RunID)
			if err != nil {
				return nil, err
			}
			return []Event{{Type: EventSnapshot, RunID: r.ID, PipelineID: r.PipelineID, Index: -1, Time: e.cfg.now(), Run: r}}, nil
		}
	} else if f.PipelineID != "" {
		if _, ok := e.reg.plan(f.PipelineID); !ok {
			return nil, fmt.Errorf("subscribe: %w: %q", ErrUnknownPipeline, f.PipelineID)
		}
	}
	return e.cfg.bus.Subscribe(ctx, f, opts)
}

// Resume carries forward the unfinished runs in the store, for an engine
// restarted over a durable store: it re-arms pipeline timeouts, fails runs
// already past them, and re-enqueues executions that were queued but may
// never have been delivered (brokers that deduplicate by TaskMessage.ID
// drop the copies; workers skip duplicates of executions already running).
func (e *Engine) Resume(ctx context.Context) error {
	ids, err := e.cfg.store.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var errs []error
	for _, id := range ids {
		var o outcome
		var deadline time.Time
		var pipeline string
		var ended bool
		err := e.update(ctx, id, &o, func(pl *plan, rec *driver.RunRecord) error {
			deadline, pipeline, ended = rec.Deadline, rec.PipelineID, rec.Status.Terminal()
			return pl.resume(rec, e.cfg.now(), &o)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("resume run %s: %w", id, err))
			continue
		}
		if o.ended == "" && !ended {
			e.track(id, pipeline, deadline, nil)
			// Its end may have come between the read and the tracking,
			// its event seen while it was not tracked: a wait would take
			// it for running for good.
			if r, err := e.cfg.store.Get(ctx, id); err == nil && r.Status.Terminal() {
				e.untrack(id, r.Status, r.Error)
			}
		}
		e.effects.after(id, &o)
	}
	return errors.Join(errs...)
}

// inputHash fingerprints run inputs for idempotency keys: SHA-256 over the
// inputs in name order, each in a canonical JSON form (objects with sorted
// keys, no insignificant space), so that the same body sent again matches
// however it is spaced or ordered.
func inputHash(vals map[string]Value) string {
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		raw, err := vals[name].MarshalJSON()
		if err == nil {
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if dec.Decode(&v) == nil {
				if canon, err := json.Marshal(v); err == nil {
					raw = canon
				}
			}
		}
		fmt.Fprintf(h, "%d:%s=%d:", len(name), name, len(raw))
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}
