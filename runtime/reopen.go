// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"fmt"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// reopen carries a failed run forward again after one of its executions
// was dead-lettered: task (the dead letter's) and every other task that has
// not succeeded go back to pending, the run is running again in a new
// generation (so that brokers deduplicating by TaskMessage.ID take the new
// messages), the pipeline timeout starts over, and the executions that
// should be in the broker are enqueued: the queued tasks cut short and the
// tasks whose inputs are all present. Outputs already produced are kept.
func (pl *plan) reopen(rec *driver.RunRecord, task string, now time.Time, o *outcome) error {
	if len(rec.Tasks) != len(pl.tasks) {
		return fmt.Errorf("%w: run %s was started with another definition of pipeline %q", ErrInvalidPipeline, rec.ID, rec.PipelineID)
	}
	if rec.Status != RunFailed {
		return fmt.Errorf("%w: run %s is %s; only a failed run can be requeued", ErrNotRequeueable, rec.ID, rec.Status)
	}
	ti, ok := pl.index[task]
	if !ok {
		return fmt.Errorf("%w: pipeline %q has no task %q", ErrNotRequeueable, rec.PipelineID, task)
	}
	if rec.Tasks[ti].Status == TaskSucceeded {
		return fmt.Errorf("%w: task %q of run %s has succeeded since", ErrNotRequeueable, task, rec.ID)
	}
	rec.Generation++
	rec.Status, rec.Error, rec.ErrorID, rec.FinishedAt, rec.TimedOut = RunRunning, "", "", time.Time{}, false
	if rec.StartedAt.IsZero() {
		rec.StartedAt = now
	}
	if pl.p.Timeout > 0 {
		rec.Deadline = now.Add(pl.p.Timeout)
	}
	for k := range rec.Tasks {
		tr := &rec.Tasks[k]
		if tr.Status == TaskSucceeded {
			continue
		}
		tr.Status, tr.FinishedAt = TaskPending, time.Time{}
		if pl.tasks[k].mapSlot >= 0 && tr.ElemDone == nil {
			// A map task that failed before queuing its elements (its list
			// did not decode) starts from its list again.
			tr.Queued, tr.Items, tr.Next, tr.Done, tr.Results = false, 0, 0, 0, nil
		}
		if !tr.Queued {
			tr.StartedAt = time.Time{}
		}
	}
	o.event(rec, EventRunStarted, "", -1, 0, "", now)
	pl.outstanding(rec, o)
	for k := range rec.Tasks {
		if tr := &rec.Tasks[k]; !tr.Queued && tr.Status == TaskPending && pl.depsDone(rec, k) {
			pl.makeReady(rec, k, now, o)
		}
	}
	return nil
}
