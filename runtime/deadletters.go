// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Dead letters and re-runs: what an operator does about runs that failed.
type (
	// DeadLetter is a task execution a broker gave up on; see
	// driver.DeadLetter.
	DeadLetter = driver.DeadLetter
	// DeadLetterListOptions filters and pages Engine.DeadLetters.
	DeadLetterListOptions = driver.DeadLetterListOptions
	// DeadLetterPage is one page of Engine.DeadLetters.
	DeadLetterPage = driver.DeadLetterPage
)

var (
	// ErrDeadLetterNotFound reports a dead-letter ID the broker does not
	// hold (never recorded, already requeued, or evicted).
	ErrDeadLetterNotFound = driver.ErrDeadLetterNotFound
	// ErrNoDeadLetterStore reports a backend whose broker does not keep
	// its dead letters where they can be listed (not a
	// driver.DeadLetterStore).
	ErrNoDeadLetterStore = errors.New("the backend's broker keeps no listable dead letters")
	// ErrNotRequeueable reports a dead letter whose run cannot be carried
	// forward: the run is not failed (it succeeded, was cancelled, or was
	// requeued already) or the task has succeeded since.
	ErrNotRequeueable = errors.New("dead letter cannot be requeued")
)

func (e *Engine) deadLetterStore() (driver.DeadLetterStore, error) {
	if d, ok := e.cfg.broker.(driver.DeadLetterStore); ok {
		return d, nil
	}
	return nil, ErrNoDeadLetterStore
}

// DeadLetters returns the dead letters of the engine's backend newest
// first, filtered and paged by opts. It fails with ErrNoDeadLetterStore
// when the backend's broker keeps none, and with ErrInvalidCursor
// (wrapped) for a cursor it did not issue.
func (e *Engine) DeadLetters(ctx context.Context, opts DeadLetterListOptions) (DeadLetterPage, error) {
	d, err := e.deadLetterStore()
	if err != nil {
		return DeadLetterPage{}, err
	}
	return d.ListDeadLetters(ctx, opts)
}

// DeadLetter returns the dead letter with the given ID, or an error
// wrapping ErrDeadLetterNotFound.
func (e *Engine) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	d, err := e.deadLetterStore()
	if err != nil {
		return DeadLetter{}, err
	}
	return d.GetDeadLetter(ctx, id)
}

// Requeue gives the execution of dead letter id a new delivery in its run:
// the failed run is running again (see the state machine's reopen: tasks
// that have not succeeded go back to pending, the pipeline timeout starts
// over, outputs already produced are kept), the dead letter is removed,
// and the run goes on to its end as any other. It returns the run. It fails
// with ErrDeadLetterNotFound, ErrRunNotFound (the run was evicted), or
// ErrNotRequeueable when the run is not failed, all wrapped.
func (e *Engine) Requeue(ctx context.Context, id string) (*Run, error) {
	d, err := e.deadLetterStore()
	if err != nil {
		return nil, err
	}
	dl, err := d.GetDeadLetter(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	closing := e.closing
	e.mu.Unlock()
	if closing {
		return nil, fmt.Errorf("requeue: %w", ErrShuttingDown)
	}
	var o outcome
	var deadline time.Time
	var pipeline string
	err = e.update(ctx, dl.RunID, &o, func(pl *plan, rec *driver.RunRecord) error {
		if err := pl.reopen(rec, dl.Task, e.cfg.now(), &o); err != nil {
			return err
		}
		deadline, pipeline = rec.Deadline, rec.PipelineID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("requeue dead letter of run %s task %q: %w", dl.RunID, dl.Task, err)
	}
	if n, ok := e.cfg.store.(driver.ReopenNotifier); ok {
		if err := n.Reopened(context.WithoutCancel(ctx), dl.RunID); err != nil {
			e.cfg.log.Error("taskwire: mark a requeued run unfinished; a restarted engine may not resume it", "run_id", dl.RunID, "err", err)
		}
	}
	// The dead letter goes before the new delivery is enqueued: a delivery
	// that fails again records a dead letter under the same id, which a
	// later removal would delete.
	if err := d.DeleteDeadLetter(context.WithoutCancel(ctx), id); err != nil {
		e.cfg.log.Error("taskwire: remove requeued dead letter", "dead_letter", id, "run_id", dl.RunID, "err", err)
	}
	e.track(dl.RunID, pipeline, deadline, nil)
	e.effects.after(dl.RunID, &o)
	return e.cfg.store.Get(context.WithoutCancel(ctx), dl.RunID)
}

// Rerun starts a new run of the pipeline of finished run runID with the
// same inputs; the new run's RerunOf names the original. opts apply as
// for Start: the new run belongs to opts.Owner (whoever re-runs), not to
// the original's owner. It fails with
// ErrRunNotFound, ErrRunNotFinished (the original is still going),
// ErrUnknownPipeline or ErrShuttingDown, all wrapped.
func (e *Engine) Rerun(ctx context.Context, runID string, opts StartOptions) (*Run, error) {
	var (
		pl   *plan
		vals map[string]Value
	)
	err := e.cfg.store.Update(ctx, runID, func(rec *driver.RunRecord) error { // a read: it changes nothing
		var ok bool
		if pl, ok = e.reg.plan(rec.PipelineID); !ok {
			return fmt.Errorf("%w: %q", ErrUnknownPipeline, rec.PipelineID)
		}
		if !rec.Status.Terminal() {
			return fmt.Errorf("%w: run %s is %s", ErrRunNotFinished, rec.ID, rec.Status)
		}
		vals = make(map[string]Value, len(pl.p.Inputs))
		for _, in := range pl.p.Inputs {
			v, ok := rec.Values[in.Name]
			if !ok {
				return fmt.Errorf("%w: run %s has no input %q", ErrInvalidInput, rec.ID, in.Name)
			}
			vals[in.Name] = v
		}
		return driver.ErrNoChange
	})
	if err != nil {
		return nil, fmt.Errorf("rerun %s: %w", runID, err)
	}
	return e.start(ctx, pl, vals, opts, runID)
}
