// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"fmt"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// This file holds the run state machine: pure functions that change a
// RunRecord inside Store.Update and note, in an outcome, what to do once the
// change is stored (messages to enqueue, events to publish). Because every
// change goes through one atomic update of the record, fan-in needs no
// coordinator: whoever completes a task learns in the same update which
// tasks became ready, and exactly one completer queues each of them.

// outcome collects the effects of one transition.
type outcome struct {
	msgs   []driver.TaskMessage
	events []Event
	// skip reports that the delivered message needs no execution.
	skip bool
	// ended is the run's terminal status if the transition ended it.
	ended RunStatus
	// inputs and deadline are the execution inputs decided by begin; a
	// map task's map input is still the whole list (the worker reads its
	// element outside the store's update).
	inputs   []Value
	deadline time.Time
	// created is when the run the transition ended was created.
	created time.Time
}

func (o *outcome) reset() {
	o.msgs, o.events = o.msgs[:0], o.events[:0]
	o.skip, o.ended, o.inputs, o.deadline, o.created = false, "", nil, time.Time{}, time.Time{}
}

// endError is the error of the run end the transition recorded, if any.
func (o *outcome) endError() string {
	for i := len(o.events) - 1; i >= 0; i-- {
		if o.events[i].Type.RunEnded() {
			return o.events[i].Error
		}
	}
	return ""
}

// runStatusOf is the status of a run that ended with an event of type t.
func runStatusOf(t EventType) RunStatus {
	switch t {
	case EventRunFailed:
		return RunFailed
	case EventRunCancelled:
		return RunCancelled
	case EventRunSucceeded:
		return RunSucceeded
	}
	return ""
}

func (o *outcome) event(rec *driver.RunRecord, typ EventType, task string, index, attempt int, errText string, now time.Time) {
	o.events = append(o.events, Event{Type: typ, RunID: rec.ID, PipelineID: rec.PipelineID, Task: task, Index: index, Attempt: attempt, Error: errText, Time: now})
}

func (o *outcome) enqueue(rec *driver.RunRecord, task string, index int) {
	o.msgs = append(o.msgs, driver.TaskMessage{RunID: rec.ID, PipelineID: rec.PipelineID, Task: task, Index: index, Gen: rec.Generation, Trace: rec.Trace})
}

// newRecord returns the record of a new run and queues its root tasks.
func (pl *plan) newRecord(id, key string, vals map[string]Value, now time.Time, o *outcome) *driver.RunRecord {
	rec := &driver.RunRecord{
		ID:             id,
		PipelineID:     pl.p.ID,
		IdempotencyKey: key,
		Status:         RunPending,
		CreatedAt:      now,
		Outputs:        pl.outputs,
		Values:         vals,
		Tasks:          make([]driver.TaskRecord, len(pl.tasks)),
	}
	if pl.p.Timeout > 0 {
		rec.Deadline = now.Add(pl.p.Timeout)
	}
	for i := range pl.tasks {
		rec.Tasks[i] = driver.TaskRecord{Name: pl.tasks[i].def.Name, Status: TaskPending}
	}
	for i := range pl.tasks {
		if len(pl.tasks[i].deps) == 0 {
			pl.makeReady(rec, i, now, o)
		}
	}
	return rec
}

// makeReady queues task i, whose inputs are all present. A map task queues
// its first elements; over an empty list it succeeds at once.
func (pl *plan) makeReady(rec *driver.RunRecord, i int, now time.Time, o *outcome) {
	if rec.Status.Terminal() {
		return
	}
	tr, pt := &rec.Tasks[i], &pl.tasks[i]
	tr.Queued = true
	if pt.mapSlot < 0 {
		o.enqueue(rec, tr.Name, -1)
		return
	}
	n, err := rec.Values[pt.def.Map].Len()
	if err != nil {
		pl.failTask(rec, i, -1, 0, fmt.Sprintf("map input %q: %v", pt.def.Map, err), "", now, o)
		return
	}
	if n == 0 {
		pl.succeedTask(rec, i, ValueOf([]Value{}), now, o)
		return
	}
	tr.Items, tr.Next = n, min(n, pt.mapConc)
	tr.ElemDone, tr.Results = make([]bool, n), make([]Value, n)
	for k := range tr.Next {
		o.enqueue(rec, tr.Name, k)
	}
}

// begin starts an execution of task i (element index of a map task). It
// sets o.skip when the message is stale or a duplicate. With record false
// it records nothing of the start (it returns ErrNoChangeAnyRevision, having decided
// the inputs and noted the start's events): the start is then written by
// started later, on its own or with the attempt's end.
func (pl *plan) begin(rec *driver.RunRecord, i, index, attempt int, now time.Time, o *outcome, record bool) error {
	tr, pt := &rec.Tasks[i], &pl.tasks[i]
	switch {
	case rec.Status.Terminal(), tr.Status.Terminal(), !tr.Queued,
		pt.mapSlot >= 0 && (index < 0 || index >= tr.Items || tr.ElemDone[index]),
		pt.mapSlot < 0 && (index != -1 || (tr.Status == TaskRunning && attempt <= tr.Attempts)):
		// A stale message or a duplicate (of a delivery already running, or
		// a redelivery after its execution was recorded).
		return pl.recorded(rec, o)
	}
	if pl.overdue(rec, now, o) {
		o.skip = true
		return nil
	}
	o.inputs = make([]Value, len(pt.def.Inputs))
	for k, name := range pt.def.Inputs {
		o.inputs[k] = rec.Values[name]
	}
	if rec.Status == RunPending {
		o.event(rec, EventRunStarted, "", -1, 0, "", now)
	}
	o.deadline = rec.Deadline
	o.event(rec, EventTaskStarted, tr.Name, index, attempt, "", now)
	if !record {
		// The attempt's end is written from this record's revision, so a
		// start decided on an older one is checked then.
		return driver.ErrNoChangeAnyRevision
	}
	return pl.started(rec, i, index, attempt, now)
}

// started records that an attempt of task i (element index) started at
// at: the run and the task are running, and the task has had attempt
// attempts. It changes nothing (ErrNoChange) once the run, the task or the
// element has ended, or when the start is recorded already.
func (pl *plan) started(rec *driver.RunRecord, i, index, attempt int, at time.Time) error {
	tr, pt := &rec.Tasks[i], &pl.tasks[i]
	switch {
	case rec.Status.Terminal(), tr.Status.Terminal(),
		pt.mapSlot >= 0 && (index < 0 || index >= tr.Items || tr.ElemDone[index]),
		tr.Status == TaskRunning && rec.Status == RunRunning && tr.Attempts >= attempt:
		return driver.ErrNoChange
	}
	if rec.Status == RunPending {
		rec.Status, rec.StartedAt = RunRunning, at
	}
	if tr.Status == TaskPending {
		tr.Status, tr.StartedAt = TaskRunning, at
	}
	tr.Attempts = max(tr.Attempts, attempt)
	return nil
}

// complete records the output of task i (element index of a map task,
// whose attempt it was). Past the pipeline deadline it times the run out
// instead: a result that comes too late does not count.
func (pl *plan) complete(rec *driver.RunRecord, i, index, attempt int, out Value, now time.Time, o *outcome) error {
	tr, pt := &rec.Tasks[i], &pl.tasks[i]
	if rec.Status.Terminal() || tr.Status.Terminal() ||
		pt.mapSlot >= 0 && (index < 0 || index >= tr.Items || tr.ElemDone[index]) {
		// A begin that decided on the record its message carried can take
		// a redelivery for a first one.
		return pl.recorded(rec, o)
	}
	if pl.overdue(rec, now, o) {
		return nil
	}
	if pt.mapSlot >= 0 {
		tr.ElemDone[index] = true
		if tr.Results != nil {
			tr.Results[index] = out
		} else { // the store keeps element outputs itself
			tr.Fresh = append(tr.Fresh, driver.Element{Index: index, Value: out})
		}
		tr.Done++
		o.event(rec, EventTaskElementSucceeded, tr.Name, index, attempt, "", now)
		if tr.Next < tr.Items {
			o.enqueue(rec, tr.Name, tr.Next)
			tr.Next++
		}
		if tr.Done < tr.Items {
			return nil
		}
		if tr.Results != nil {
			out = ValueOf(tr.Results)
		} else {
			out = driver.ElementList(tr.Name, tr.Items)
		}
		tr.Results, tr.ElemDone = nil, nil
	}
	pl.succeedTask(rec, i, out, now, o)
	return nil
}

// overdue times the run out if its pipeline deadline has passed, and
// reports whether it did: every transition that carries a run forward
// checks it first, so that a run ends at its deadline whichever process
// makes its next change, with or without the engine that started it.
func (pl *plan) overdue(rec *driver.RunRecord, now time.Time, o *outcome) bool {
	if rec.Deadline.IsZero() || now.Before(rec.Deadline) || rec.Status.Terminal() {
		return false
	}
	_ = pl.timeout(rec, now, o)
	return true
}

// succeedTask marks task i succeeded with output out, queues the consumers
// whose inputs are now complete, and ends the run when every task is done.
func (pl *plan) succeedTask(rec *driver.RunRecord, i int, out Value, now time.Time, o *outcome) {
	tr, pt := &rec.Tasks[i], &pl.tasks[i]
	tr.Status, tr.FinishedAt = TaskSucceeded, now
	if tr.StartedAt.IsZero() {
		tr.StartedAt = now
	}
	rec.Values[pt.def.Output] = out
	o.event(rec, EventTaskSucceeded, tr.Name, -1, tr.Attempts, "", now)
	for _, c := range pt.consumers {
		if !rec.Tasks[c].Queued && pl.depsDone(rec, c) {
			pl.makeReady(rec, c, now, o)
		}
	}
	if rec.Status.Terminal() {
		return
	}
	for k := range rec.Tasks {
		if rec.Tasks[k].Status != TaskSucceeded {
			return
		}
	}
	if rec.StartedAt.IsZero() {
		rec.StartedAt = now
	}
	endRun(rec, RunSucceeded, "", now, o)
}

func (pl *plan) depsDone(rec *driver.RunRecord, i int) bool {
	for _, d := range pl.tasks[i].deps {
		if rec.Tasks[d].Status != TaskSucceeded {
			return false
		}
	}
	return true
}

// retry notes a failed attempt that will be retried after delay.
func (pl *plan) retry(rec *driver.RunRecord, i, index, attempt int, errText, errID string, delay time.Duration, now time.Time, o *outcome) error {
	tr := &rec.Tasks[i]
	if rec.Status.Terminal() || tr.Status.Terminal() {
		return pl.recorded(rec, o)
	}
	if pl.overdue(rec, now, o) {
		o.skip = true
		return nil
	}
	tr.Error, tr.ErrorID = errText, errID
	o.event(rec, EventTaskRetrying, tr.Name, index, attempt, errText, now)
	o.events[len(o.events)-1].RetryIn = delay
	o.events[len(o.events)-1].ErrorID = errID
	return nil
}

// fail records the final failure of task i (element index, at its
// attempt attempt), which fails the run; past the pipeline deadline, the
// run times out instead.
func (pl *plan) fail(rec *driver.RunRecord, i, index, attempt int, errText, errID string, now time.Time, o *outcome) error {
	tr := &rec.Tasks[i]
	if rec.Status.Terminal() || tr.Status.Terminal() {
		return pl.recorded(rec, o)
	}
	if pl.overdue(rec, now, o) {
		return nil
	}
	tr.Attempts = max(tr.Attempts, attempt)
	pl.failTask(rec, i, index, attempt, errText, errID, now, o)
	return nil
}

// failTask fails task i and the run: errText is the failure of element
// index (-1 for the task itself) at its attempt attempts, which the run's
// error names when there were several (a map task's own Attempts is the
// most any element needed, not this element's). errID, when set, is the
// id under which errText, a task's own text, was logged: the task, the run
// and their events keep it (see driver.Run.ErrorID).
func (pl *plan) failTask(rec *driver.RunRecord, i, index, attempts int, errText, errID string, now time.Time, o *outcome) {
	tr := &rec.Tasks[i]
	tr.Status, tr.Error, tr.ErrorID, tr.FinishedAt = TaskFailed, errText, errID, now
	what := fmt.Sprintf("task %q", tr.Name)
	if index >= 0 {
		what += fmt.Sprintf(" element %d", index)
		o.event(rec, EventTaskElementFailed, tr.Name, index, attempts, errText, now)
		o.events[len(o.events)-1].ErrorID = errID
	}
	o.event(rec, EventTaskFailed, tr.Name, index, attempts, errText, now)
	o.events[len(o.events)-1].ErrorID = errID
	switch {
	case attempts > 1:
		what += fmt.Sprintf(" failed after %d attempts: ", attempts)
	default:
		what += " failed: "
	}
	endRun(rec, RunFailed, what+errText, now, o)
	rec.ErrorID = errID
	o.events[len(o.events)-1].ErrorID = errID
}

// cancel ends the run as cancelled; it fails with ErrRunFinished when the
// run has already ended.
func (pl *plan) cancel(rec *driver.RunRecord, reason string, now time.Time, o *outcome) error {
	if rec.Status.Terminal() {
		return fmt.Errorf("cancel run %s: %w (%s)", rec.ID, ErrRunFinished, rec.Status)
	}
	endRun(rec, RunCancelled, reason, now, o)
	return nil
}

// timeout fails the run because its pipeline timeout expired.
func (pl *plan) timeout(rec *driver.RunRecord, now time.Time, o *outcome) error {
	if rec.Status.Terminal() {
		return driver.ErrNoChange
	}
	rec.TimedOut = true
	endRun(rec, RunFailed, fmt.Sprintf("pipeline %q timed out after %s", rec.PipelineID, pl.p.Timeout), now, o)
	return nil
}

// endRun moves the run to a terminal status; unfinished tasks are cancelled.
func endRun(rec *driver.RunRecord, status RunStatus, errText string, now time.Time, o *outcome) {
	rec.Status, rec.Error, rec.ErrorID, rec.FinishedAt = status, errText, "", now
	for k := range rec.Tasks {
		if tr := &rec.Tasks[k]; !tr.Status.Terminal() {
			tr.Status, tr.FinishedAt = TaskCancelled, now
		}
	}
	o.event(rec, endEvent(status), "", -1, 0, errText, now)
	o.ended, o.created = status, rec.CreatedAt
}

// endEvent is the event type of a run ending with status.
func endEvent(status RunStatus) EventType {
	switch status {
	case RunFailed:
		return EventRunFailed
	case RunCancelled:
		return EventRunCancelled
	}
	return EventRunSucceeded
}

// resume re-queues the executions of an unfinished run that may have been
// lost (queued but never started), and times the run out if it is overdue.
func (pl *plan) resume(rec *driver.RunRecord, now time.Time, o *outcome) error {
	if rec.Status.Terminal() || len(rec.Tasks) != len(pl.tasks) {
		return driver.ErrNoChange
	}
	if pl.overdue(rec, now, o) {
		return nil
	}
	pl.outstanding(rec, o)
	return driver.ErrNoChange
}

// outstanding enqueues the executions of rec that should be in the broker:
// every element queued and not done, and every queued task not started.
func (pl *plan) outstanding(rec *driver.RunRecord, o *outcome) {
	for i := range rec.Tasks {
		tr := &rec.Tasks[i]
		switch {
		case !tr.Queued || tr.Status.Terminal():
		case pl.tasks[i].mapSlot >= 0:
			for k := 0; k < tr.Next && k < len(tr.ElemDone); k++ {
				if !tr.ElemDone[k] {
					o.enqueue(rec, tr.Name, k)
				}
			}
		case tr.Status == TaskPending:
			o.enqueue(rec, tr.Name, -1)
		}
	}
}

// giveBack undoes the recorded start of the first attempt of task i, a
// continuation handed back to the queue unfinished: the task is pending
// again, for the message enqueued for it to be its first attempt.
func (pl *plan) giveBack(rec *driver.RunRecord, i int) error {
	tr := &rec.Tasks[i]
	if rec.Status.Terminal() || tr.Status != TaskRunning || tr.Attempts != 1 || pl.tasks[i].mapSlot >= 0 {
		return driver.ErrNoChange
	}
	tr.Status, tr.Attempts, tr.StartedAt = TaskPending, 0, time.Time{}
	return nil
}

// recorded answers a delivery whose execution the record holds already
// (stale, a duplicate, or a redelivery after a crash): it changes nothing
// and needs no execution (o.skip), but the first delivery's effects may
// have been cut short by a crash after the record was stored, so they are
// carried out again: messages that are the broker's to deduplicate, and a
// finished run's end, which wakes whoever waits for it.
func (pl *plan) recorded(rec *driver.RunRecord, o *outcome) error {
	o.skip = true
	pl.redrive(rec, o)
	return driver.ErrNoChange
}

// redrive notes again the effects of rec's last stored transitions: the
// outstanding executions of an unfinished run, or the end of a finished one.
func (pl *plan) redrive(rec *driver.RunRecord, o *outcome) {
	if !rec.Status.Terminal() {
		pl.outstanding(rec, o)
		return
	}
	o.event(rec, endEvent(rec.Status), "", -1, 0, rec.Error, rec.FinishedAt)
	o.events[len(o.events)-1].ErrorID = rec.ErrorID
	o.ended = rec.Status
}
