// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// track remembers a run started by this engine until it ends, arming its
// pipeline timeout.
func (e *Engine) track(runID string, deadline time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timersClosed {
		return
	}
	var t *time.Timer
	if !deadline.IsZero() {
		t = time.AfterFunc(max(deadline.Sub(e.cfg.now()), 0), func() { e.onTimeout(runID) })
	}
	e.active[runID] = t
}

// untrack forgets an ended run.
func (e *Engine) untrack(runID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.active[runID]
	if !ok {
		return
	}
	if t != nil {
		t.Stop()
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
		e.cfg.log.Error("taskwire: time out run", "run", runID, "err", err)
	}
	e.untrack(runID)
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
	for id, t := range e.active {
		if t != nil {
			t.Stop()
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
