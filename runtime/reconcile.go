// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// DefaultReconcileInterval is how often an Engine reconciles its
// unfinished runs with a broker that can lose messages (see Reconcile).
const DefaultReconcileInterval = 30 * time.Second

// WithReconcileInterval sets how often an Engine runs Reconcile
// (DefaultReconcileInterval by default); zero turns the periodic run off.
// It applies only to brokers that can lose messages (driver.LiveLister,
// such as JetStream); the in-memory broker loses nothing its store keeps.
func WithReconcileInterval(d time.Duration) Option {
	return func(c *config) { c.reconcileInterval = max(d, 0); c.reconcileSet = true }
}

// Reconcile finds the executions of unfinished runs that no message in the
// broker carries any more (lost in a crash of the broker, or never
// enqueued) and enqueues them again: a queued task or map element whose
// message is gone, and a task recorded running whose message is gone (its
// execution is lost with it, so it goes back to pending). The run moves to
// a new generation first, so the new messages have new IDs: the broker
// remembers the lost ones' IDs for its duplicate window and would drop a
// copy under the same ID, while every later enqueue of the same execution
// (a redrive by another process) is deduplicated against the new ID. Runs past their pipeline timeout fail. It returns how
// many executions it enqueued. With a broker that is not a
// driver.LiveLister it does nothing. Generated services run it when they
// start and every WithReconcileInterval; several engines may run it at
// once.
func (e *Engine) Reconcile(ctx context.Context) (int, error) {
	ll, ok := e.cfg.broker.(driver.LiveLister)
	if !ok {
		return 0, nil
	}
	// An execution enqueued after the messages are read looks lost to the
	// update that follows: its copy has the same ID, which the broker's
	// deduplication drops.
	ids, err := e.cfg.store.Unfinished(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	held, err := ll.LiveMessages(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	live := make(map[string]bool, len(held)) // by execution, whatever the generation
	for id := range held {
		live[withoutGen(id)] = true
	}
	n := 0
	var errs []error
	for _, id := range ids {
		var o outcome
		err := e.update(ctx, id, &o, func(pl *plan, rec *driver.RunRecord) error {
			return pl.reconcile(rec, live, e.cfg.now(), &o)
		})
		if errors.Is(err, ErrRunNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile run %s: %w", id, err))
			continue
		}
		if len(o.msgs) > 0 {
			e.cfg.log.Warn("taskwire: re-enqueuing executions no broker message carries", "run_id", id, "executions", len(o.msgs))
		}
		n += len(o.msgs)
		e.effects.after(id, &o)
	}
	return n, errors.Join(errs...)
}

// reconcile notes the executions of an unfinished run that no live message
// carries, to be enqueued again; a non-map task recorded running whose
// message is gone goes back to pending, so that the new delivery is not
// taken for a duplicate of the lost one. A run past its deadline times out.
func (pl *plan) reconcile(rec *driver.RunRecord, live map[string]bool, now time.Time, o *outcome) error {
	if rec.Status.Terminal() || len(rec.Tasks) != len(pl.tasks) {
		return driver.ErrNoChange
	}
	if !rec.Deadline.IsZero() && !now.Before(rec.Deadline) {
		return pl.timeout(rec, now, o)
	}
	if pl.carried(rec, live) {
		return driver.ErrNoChange
	}
	type lost struct{ task, index int }
	var gone []lost
	for i := range rec.Tasks {
		tr := &rec.Tasks[i]
		if !tr.Queued || tr.Status.Terminal() {
			continue
		}
		if pl.tasks[i].mapSlot >= 0 {
			for k := 0; k < tr.Next && k < len(tr.ElemDone); k++ {
				if !tr.ElemDone[k] && !live[execID(rec, tr.Name, k)] {
					gone = append(gone, lost{i, k})
				}
			}
		} else if !live[execID(rec, tr.Name, -1)] {
			gone = append(gone, lost{i, -1})
		}
	}
	if len(gone) == 0 {
		return driver.ErrNoChange
	}
	rec.Generation++
	for _, g := range gone {
		tr := &rec.Tasks[g.task]
		if g.index < 0 && tr.Status == TaskRunning {
			tr.Status = TaskPending
		}
		o.enqueue(rec, tr.Name, g.index)
	}
	return nil
}

// carried reports whether a live message holds an execution of rec that
// is recorded done: its delivery, or its redelivery after a crash, finds
// it recorded and enqueues again every execution of the run that should
// be queued. Among those may be a continuation running on it with no
// message of its own (driver.Continuer), which must not run twice.
func (pl *plan) carried(rec *driver.RunRecord, live map[string]bool) bool {
	for i := range rec.Tasks {
		tr := &rec.Tasks[i]
		if pl.tasks[i].mapSlot < 0 {
			if tr.Status.Terminal() && live[execID(rec, tr.Name, -1)] {
				return true
			}
			continue
		}
		for k := range tr.Items { // a map task's elements: done if the task is
			if (tr.Status.Terminal() || k < len(tr.ElemDone) && tr.ElemDone[k]) && live[execID(rec, tr.Name, k)] {
				return true
			}
		}
	}
	return false
}

// execID is the ID, without its generation, of the message of rec's task
// (element index, or -1): the execution it carries.
func execID(rec *driver.RunRecord, task string, index int) string {
	return driver.TaskMessage{RunID: rec.ID, Task: task, Index: index}.ID()
}

// withoutGen returns a TaskMessage.ID without its generation: the
// execution it carries.
func withoutGen(id string) string {
	i := strings.LastIndexByte(id, '/')
	if i < 0 || i+2 >= len(id) || id[i+1] != 'g' {
		return id
	}
	for _, c := range id[i+2:] {
		if c < '0' || c > '9' {
			return id
		}
	}
	return id[:i]
}
