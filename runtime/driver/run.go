// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"fmt"
	"time"
)

// RunStatus is the status of a run.
type RunStatus string

// Run statuses. A run starts pending, becomes running when its first task
// starts, and ends in exactly one of the three terminal statuses.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Terminal reports whether s is succeeded, failed or cancelled.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Valid reports whether s is one of the five run statuses.
func (s RunStatus) Valid() bool {
	return s == RunPending || s == RunRunning || s.Terminal()
}

// TaskStatus is the status of one task of a run.
type TaskStatus string

// Task statuses. A task waiting for its inputs, or for a retry, keeps its
// current status; tasks still unfinished when a run fails or is cancelled
// become cancelled.
const (
	TaskPending   TaskStatus = "pending"
	TaskRunning   TaskStatus = "running"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskCancelled TaskStatus = "cancelled"
)

// Terminal reports whether s is succeeded, failed or cancelled.
func (s TaskStatus) Terminal() bool {
	return s == TaskSucceeded || s == TaskFailed || s == TaskCancelled
}

// Run is the public view of a run, as returned by the Engine and served by
// the HTTP API. It is a snapshot: later changes do not affect it.
type Run struct {
	ID         string               `json:"run_id"`
	PipelineID string               `json:"pipeline_id"`
	Status     RunStatus            `json:"status"`
	CreatedAt  time.Time            `json:"created_at"`
	StartedAt  time.Time            `json:"started_at,omitzero"`
	FinishedAt time.Time            `json:"finished_at,omitzero"`
	Tasks      map[string]TaskState `json:"tasks"`
	// Outputs holds the pipeline's Outputs once the run has succeeded.
	Outputs map[string]Value `json:"outputs,omitempty"`
	// Error names the failed task and its error, or says why the run was
	// cancelled or timed out; empty for a succeeded run.
	Error string `json:"error,omitempty"`
	// ErrorID, when set, identifies Error in the log of the process where
	// the failure happened: Error is then a task's own text, which the HTTP
	// API does not show (see PublicError). Empty for taskwire's own errors
	// and for a task's errors marked safe to show.
	ErrorID string `json:"error_id,omitempty"`
	// RerunOf is the run this one re-runs (Engine.Rerun), if any.
	RerunOf string `json:"rerun_of,omitempty"`
	// Owner is who started the run; zero for a run started without one
	// (security disabled, the Go API, or a run stored before owners were
	// kept).
	Owner     Owner `json:"owner,omitzero"`
	timedOut  bool
	inputHash string
}

// InputHash returns the fingerprint of the inputs the run was started
// with, when it was started with an idempotency key ("" otherwise, and for
// runs stored before fingerprints were kept).
func (r *Run) InputHash() string { return r.inputHash }

// TaskState is the state of one task within a run.
type TaskState struct {
	Status TaskStatus `json:"status"`
	// Attempts counts the attempts started (for a map task: the most any
	// element needed).
	Attempts int `json:"attempts"`
	// Error is the most recent attempt failure, kept after a later success.
	Error string `json:"error,omitempty"`
	// ErrorID identifies Error in the log when it is a task's own text
	// (see Run.ErrorID).
	ErrorID    string    `json:"error_id,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// PublicError is the error of a task as clients of the HTTP API see it:
// Error itself when it is taskwire's own or marked safe (ErrorID empty),
// else a stable message naming ErrorID.
func (t TaskState) PublicError() string {
	return PublicError(t.Error, t.ErrorID)
}

// PublicError is the error of the run as clients of the HTTP API see it:
// Error itself when it is taskwire's own or marked safe (ErrorID empty),
// else a stable message naming the failed task and ErrorID.
func (r *Run) PublicError() string {
	if r.ErrorID == "" {
		return r.Error
	}
	for name, t := range r.Tasks {
		if t.ErrorID == r.ErrorID {
			return fmt.Sprintf("task %q failed (error id %s)", name, r.ErrorID)
		}
	}
	return PublicError(r.Error, r.ErrorID)
}

// PublicError returns text when id is empty, and otherwise the message
// clients see in place of a task's own error text: "task failed (error
// id ID)". The full text is in the log of the process where the task ran,
// under the same id.
func PublicError(text, id string) string {
	if id == "" {
		return text
	}
	return "task failed (error id " + id + ")"
}

// Owner is the principal that started a run: an API key by its id, or a
// JWT subject with its issuer. The zero Owner is no one (see Run.Owner).
type Owner struct {
	// Method is how the principal authenticated: "api_key" or "jwt".
	Method string `json:"method"`
	// ID is the key id or the token's subject.
	ID string `json:"id"`
	// Issuer is the token's issuer (iss), when it has one.
	Issuer string `json:"issuer,omitempty"`
}

// IsZero reports whether o is no one.
func (o Owner) IsZero() bool { return o == Owner{} }

// String returns o as logs show it: method:id, with @issuer for a token
// that has one.
func (o Owner) String() string {
	if o.IsZero() {
		return ""
	}
	s := o.Method + ":" + o.ID
	if o.Issuer != "" {
		s += "@" + o.Issuer
	}
	return s
}

// Err returns nil for a succeeded run, a *RunError for a failed or cancelled
// one, and nil for a run that has not finished.
func (r *Run) Err() error {
	if r.Status != RunFailed && r.Status != RunCancelled {
		return nil
	}
	return &RunError{RunID: r.ID, Status: r.Status, Message: r.Error, TimedOut: r.timedOut}
}

// RunRecord is the complete, serialisable state of a run as kept by a Store.
// The engine and workers change it only through Store.Update.
type RunRecord struct {
	ID             string `json:"id"`
	PipelineID     string `json:"pipeline_id"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// InputHash fingerprints the inputs of a run started with an
	// idempotency key, so that the key reused with other inputs is refused.
	InputHash string    `json:"input_hash,omitempty"`
	Status    RunStatus `json:"status"`
	Error     string    `json:"error,omitempty"`
	// ErrorID identifies Error in the log when it holds a task's own
	// text (see Run.ErrorID).
	ErrorID    string    `json:"error_id,omitempty"`
	TimedOut   bool      `json:"timed_out,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Deadline is when the pipeline timeout expires; zero means none.
	Deadline time.Time `json:"deadline,omitzero"`
	// RerunOf is the run this one re-runs, if any.
	RerunOf string `json:"rerun_of,omitempty"`
	// Owner is who started the run (zero: no one recorded). A requeue
	// keeps it; a re-run is a new run, owned by whoever re-runs.
	Owner Owner `json:"owner,omitzero"`
	// Generation counts the times the run was reopened after failing (a
	// dead letter requeued); task messages carry it (TaskMessage.Gen).
	Generation int `json:"generation,omitempty"`
	// Outputs names the values a succeeded run returns.
	Outputs []string `json:"outputs"`
	// Values holds the pipeline inputs and every task output produced.
	Values map[string]Value `json:"values"`
	// Tasks holds one record per pipeline task, in definition order.
	Tasks []TaskRecord `json:"tasks"`
	// Trace is the W3C traceparent of the run's span, when the run is
	// traced; its task messages carry it.
	Trace string `json:"trace,omitempty"`
}

// TaskRecord is the serialisable state of one task of a run.
type TaskRecord struct {
	Name     string     `json:"name"`
	Status   TaskStatus `json:"status"`
	Attempts int        `json:"attempts"`
	Error    string     `json:"error,omitempty"`
	// ErrorID identifies Error in the log when it holds a task's own text.
	ErrorID    string    `json:"error_id,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Queued reports that the task's inputs were complete and its first
	// execution messages were enqueued.
	Queued bool `json:"queued,omitempty"`
	// Items is the number of elements of a map task.
	Items int `json:"items,omitempty"`
	// Next is the next element of a map task to enqueue.
	Next int `json:"next,omitempty"`
	// Done counts the finished elements of a map task.
	Done int `json:"done,omitempty"`
	// ElemDone marks finished elements of a map task.
	ElemDone []bool `json:"elem_done,omitempty"`
	// Results holds the element outputs of a map task, in input order. It
	// is nil when the store keeps element outputs outside the record, so
	// that the record does not grow with the list (see Fresh).
	Results []Value `json:"results,omitempty"`
	// Fresh holds the element outputs a transition recorded while Results
	// is nil: the store keeps them before it stores the record, and the
	// task's output is then an ElementList of them. Never serialised.
	Fresh []Element `json:"-"`
}

// Element is the output of one element of a map task.
type Element struct {
	Index int
	Value Value
}

// View returns the public view of rec: outputs are included only once the
// run has succeeded, restricted to rec.Outputs.
func (rec *RunRecord) View() *Run {
	r := &Run{
		ID:         rec.ID,
		PipelineID: rec.PipelineID,
		Status:     rec.Status,
		CreatedAt:  rec.CreatedAt,
		StartedAt:  rec.StartedAt,
		FinishedAt: rec.FinishedAt,
		Error:      rec.Error,
		ErrorID:    rec.ErrorID,
		RerunOf:    rec.RerunOf,
		Owner:      rec.Owner,
		Tasks:      make(map[string]TaskState, len(rec.Tasks)),
		timedOut:   rec.TimedOut,
		inputHash:  rec.InputHash,
	}
	for _, t := range rec.Tasks {
		r.Tasks[t.Name] = TaskState{Status: t.Status, Attempts: t.Attempts, Error: t.Error, ErrorID: t.ErrorID, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
	}
	if rec.Status == RunSucceeded {
		r.Outputs = make(map[string]Value, len(rec.Outputs))
		for _, name := range rec.Outputs {
			r.Outputs[name] = rec.Values[name]
		}
	}
	return r
}
