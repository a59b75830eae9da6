// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/driver"
)

// activeRun is a run started by this engine that has not ended.
type activeRun struct {
	pipeline string
	timer    *time.Timer // of the pipeline timeout, or nil
	span     trace.Span  // the run's span, or nil when not traced
}

// track remembers a run started by this engine until it ends, arming its
// pipeline timeout.
func (e *Engine) track(runID, pipeline string, deadline time.Time, span trace.Span) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timersClosed {
		endRunSpan(span, "", "")
		return
	}
	a := activeRun{pipeline: pipeline, span: span}
	if !deadline.IsZero() {
		a.timer = time.AfterFunc(max(deadline.Sub(e.cfg.now()), 0), func() { e.onTimeout(runID) })
	}
	e.active[runID] = a
	if e.cfg.obs != nil {
		e.cfg.obs.RunInProgress(pipeline, 1)
	}
}

// tracked reports whether runID is a run this engine started and has not
// yet seen end.
func (e *Engine) tracked(runID string) bool {
	e.mu.Lock()
	_, ok := e.active[runID]
	e.mu.Unlock()
	return ok
}

// untrack forgets an ended run and wakes its waiters; status and errText
// are its end, when known, for its span. Wait takes a tracked run for one
// whose end is yet to come, so every way a run stops being tracked wakes
// them after.
func (e *Engine) untrack(runID string, status RunStatus, errText string) {
	defer e.wake(runID) // runs after e.mu is released (defers run last in, first out)
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[runID]
	if !ok {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	endRunSpan(a.span, status, errText)
	if e.cfg.obs != nil {
		e.cfg.obs.RunInProgress(a.pipeline, -1)
	}
	delete(e.active, runID)
	e.checkDrainedLocked()
}

func (e *Engine) doneStarting() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.starting--
	e.checkDrainedLocked()
}

func (e *Engine) checkDrainedLocked() {
	if e.closing && !e.drainClosed && e.starting == 0 && len(e.active) == 0 {
		e.drainClosed = true
		close(e.drained)
	}
}

// onTimeout fails a run whose pipeline timeout expired, whether or not one
// of its tasks is running.
func (e *Engine) onTimeout(runID string) {
	e.mu.Lock()
	if e.timersClosed {
		e.mu.Unlock()
		return
	}
	e.timerCalls.Add(1)
	e.mu.Unlock()
	defer e.timerCalls.Done()
	err := e.end(context.Background(), runID, func(pl *plan, rec *driver.RunRecord, now time.Time, o *outcome) error {
		if now.Before(rec.Deadline) { // the clock lags the timer: fail anyway, the timer is the authority
			now = rec.Deadline
		}
		return pl.timeout(rec, now, o)
	})
	if err != nil {
		e.cfg.log.Error("taskwire: time out run", "run_id", runID, "err", err)
	}
	e.untrack(runID, RunFailed, "pipeline timed out")
}

// Shutdown stops the engine. It refuses new runs at once (Start fails with
// ErrShuttingDown), lets the runs started here go on until they end or ctx
// is done, then cancels the task executions still running and waits for
// them, stops the workers and timers, and ends every event subscription.
// When it returns, the engine has no goroutine left (task functions that
// ignore their context delay it). An engine created WithWorkers(0) does not
// wait: its runs go on in other processes. If ctx expired first it returns an error
// wrapping ctx.Err(); with the engine's own memory backend, the runs cut short
// end cancelled, while with a durable store they stay unfinished for
// Resume. Calling Shutdown again waits for the first call to finish.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		select {
		case <-e.shutdownDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.closing = true
	e.checkDrainedLocked()
	e.mu.Unlock()

	var err error
	if e.worker != nil { // without local workers, runs go on in other processes
		select {
		case <-e.drained:
		case <-ctx.Done():
			err = fmt.Errorf("shutdown: runs still going were cut short: %w", ctx.Err())
		}
	}
	e.stopWorkers()
	<-e.workersDone
	close(e.bgStop)
	e.bg.Wait()

	e.mu.Lock()
	e.timersClosed = true
	left := make([]string, 0, len(e.active))
	for id, a := range e.active {
		if a.timer != nil {
			a.timer.Stop()
		}
		left = append(left, id)
	}
	e.mu.Unlock()
	e.timerCalls.Wait()
	if e.own != nil {
		for _, id := range left {
			_ = e.end(context.Background(), id, func(pl *plan, rec *driver.RunRecord, now time.Time, o *outcome) error {
				if rec.Status.Terminal() {
					return driver.ErrNoChange
				}
				return pl.cancel(rec, "run cancelled: engine shut down", now, o)
			})
		}
	}
	// Runs that go on elsewhere (a durable backend) end their span here:
	// a span cannot outlive the process that started it.
	e.mu.Lock()
	for id, a := range e.active {
		if a.span != nil {
			a.span.AddEvent("engine shut down before the run ended")
			a.span.End()
			e.active[id] = activeRun{pipeline: a.pipeline}
		}
	}
	e.mu.Unlock()
	if e.ctl != nil {
		_ = e.ctl.Close()
	}
	<-e.ctlDone
	if e.own != nil {
		_ = e.own.Close()
	}
	close(e.shutdownDone)
	return err
}
