// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Retention bounds the finished runs of a pipeline that the store keeps;
// runs still going are never deleted. The zero value keeps every run (up to
// the backend's own limits, such as MemoryStore's cap).
type Retention struct {
	// MaxAge deletes a finished run this long after it finished; zero
	// keeps runs whatever their age.
	MaxAge time.Duration `json:"max_age,omitempty"`
	// MaxRuns keeps at most this many finished runs of the pipeline, the
	// most recently created; zero means no count limit.
	MaxRuns int `json:"max_runs,omitempty"`
}

// IsZero reports whether r keeps every run.
func (r Retention) IsZero() bool { return r.MaxAge <= 0 && r.MaxRuns <= 0 }

// DefaultRetentionInterval is how often an Engine enforces the retention
// of its pipelines by default.
const DefaultRetentionInterval = time.Minute

// WithRetentionInterval sets how often an Engine deletes the finished runs
// its pipelines' Retention no longer keeps (DefaultRetentionInterval by
// default); zero turns the periodic sweep off (EnforceRetention still
// works). The sweep runs only when some pipeline has a retention.
func WithRetentionInterval(d time.Duration) Option {
	return func(c *config) { c.retentionInterval = max(d, 0); c.retentionSet = true }
}

// ErrNoRetention reports a store that cannot delete runs (not a
// driver.FinishedDeleter), so retention cannot be enforced on it.
var ErrNoRetention = errors.New("the store cannot delete finished runs")

// EnforceRetention deletes, once, the finished runs that their pipeline's
// Retention no longer keeps: those that finished MaxAge ago or more (by
// the engine's clock), and those beyond the MaxRuns most recently created.
// It returns how many it deleted. Every engine of a deployment may run it:
// deletions are idempotent, and a run that goes on again meanwhile (a
// requeue) is left alone. Its cost is one walk of each such pipeline's runs.
func (e *Engine) EnforceRetention(ctx context.Context) (int, error) {
	var pls []Pipeline
	for _, p := range e.reg.Pipelines() {
		if !p.Retention.IsZero() {
			pls = append(pls, p)
		}
	}
	if len(pls) == 0 {
		return 0, nil
	}
	del, ok := e.cfg.store.(driver.FinishedDeleter)
	if !ok {
		return 0, ErrNoRetention
	}
	now := e.cfg.now()
	deleted := 0
	var errs []error
	for _, p := range pls {
		n, err := enforce(ctx, e.cfg.store, del, p.ID, p.Retention, now)
		deleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("retention of pipeline %q: %w", p.ID, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// enforce applies r to the runs of one pipeline, newest first.
func enforce(ctx context.Context, store driver.Store, del driver.FinishedDeleter, pipelineID string, r Retention, now time.Time) (int, error) {
	opts := ListOptions{PipelineID: pipelineID, Limit: MaxListLimit}
	kept, deleted := 0, 0
	for {
		page, err := store.List(ctx, opts)
		if err != nil {
			return deleted, err
		}
		for _, run := range page.Runs {
			if !run.Status.Terminal() {
				continue
			}
			expired := r.MaxAge > 0 && !run.FinishedAt.IsZero() && now.Sub(run.FinishedAt) >= r.MaxAge
			if !expired {
				kept++
				if r.MaxRuns <= 0 || kept <= r.MaxRuns {
					continue
				}
			}
			if err := del.DeleteFinished(ctx, run.ID); err != nil {
				return deleted, fmt.Errorf("delete run %s: %w", run.ID, err)
			}
			deleted++
		}
		if page.NextCursor == "" {
			return deleted, nil
		}
		opts.Cursor = page.NextCursor
	}
}

// every runs job every interval (not at all when it is zero) until
// Shutdown, logging its failures as what.
func (e *Engine) every(interval time.Duration, what string, job func(context.Context) (int, error)) {
	if interval <= 0 {
		return
	}
	e.bg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-e.bgStop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), max(interval, 10*time.Second))
			stop := context.AfterFunc(closedChan(e.bgStop), cancel)
			if n, err := job(ctx); err != nil && ctx.Err() == nil {
				e.cfg.log.Error("taskwire: "+what, "done", n, "err", err)
			}
			stop()
			cancel()
		}
	})
}

// closedChan is a context that is done when its channel is closed.
type closedChan chan struct{}

func (c closedChan) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c closedChan) Done() <-chan struct{}       { return c }
func (c closedChan) Value(any) any               { return nil }
func (c closedChan) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}
