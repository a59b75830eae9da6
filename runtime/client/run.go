// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// RunStatus is the status of a run, or of one task of a run.
type RunStatus string

// The statuses. A run (a task) starts pending, is running once its first
// task (attempt) starts, and ends in one of the three others.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Finished reports whether s is succeeded, failed or cancelled.
func (s RunStatus) Finished() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Run is a run as the server shows it (GET /runs/{run_id}). The answer to
// starting a run without waiting holds only ID and Status.
type Run struct {
	ID         string    `json:"run_id"`
	PipelineID string    `json:"pipeline_id"`
	Status     RunStatus `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	// StartedAt and FinishedAt are zero until the run starts and finishes.
	StartedAt  time.Time            `json:"started_at"`
	FinishedAt time.Time            `json:"finished_at"`
	Tasks      map[string]TaskState `json:"tasks"`
	// Outputs holds the pipeline's outputs, as JSON, once the run has
	// succeeded; DecodeOutputs decodes them into the generated output
	// struct.
	Outputs map[string]json.RawMessage `json:"outputs"`
	// Error names the failed task and its error, or says why the run was
	// cancelled or timed out; empty for a run that succeeded.
	Error string `json:"error"`
	// RerunOf is the run this one re-runs (RerunRun), if any.
	RerunOf string `json:"rerun_of,omitempty"`
}

// TaskState is the state of one task of a run.
type TaskState struct {
	Status RunStatus `json:"status"`
	// Attempts counts the attempts started.
	Attempts int `json:"attempts"`
	// Error is the most recent attempt's failure.
	Error string `json:"error"`
}

// RunError is the error of a run that finished without succeeding: it
// failed, or was cancelled. Match it with errors.As.
type RunError struct {
	Run *Run
}

// Error names the run, its status and its error.
func (e *RunError) Error() string {
	msg := fmt.Sprintf("taskwire: run %s of pipeline %s %s", e.Run.ID, e.Run.PipelineID, e.Run.Status)
	if e.Run.Error != "" {
		msg += ": " + e.Run.Error
	}
	return msg
}

// StartOption tunes the start of a run.
type StartOption func(*startConfig)

type startConfig struct {
	idempotencyKey string
}

// WithIdempotencyKey sends key as the Idempotency-Key header: starting the
// pipeline again with the same key (as the same caller) returns the run the
// first request started instead of starting another. That makes the request
// safe to repeat, so it is retried after a 429 or 503 like a GET.
func WithIdempotencyKey(key string) StartOption {
	return func(c *startConfig) { c.idempotencyKey = key }
}

// DefaultWait is how long RunPipeline asks the server to hold the execute
// request (?wait=) before it follows the run's events instead.
const DefaultWait = 30 * time.Second

// executeRequest is the request that starts a run of the pipeline whose
// execute route is execute, with the JSON of in as its body.
func executeRequest(execute Route, in any, opts []StartOption) (*request, error) {
	var sc startConfig
	for _, o := range opts {
		o(&sc)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("client: %s: encoding the inputs: %w", execute.OperationID, err)
	}
	r := &request{route: execute, body: body}
	if sc.idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {sc.idempotencyKey}}
		r.safe = true
	}
	return r, nil
}

// Start starts a run of the pipeline whose execute route is execute, with
// the inputs in (the pipeline's generated input struct), and returns it as
// the server answered: 202, with ID and Status set.
func (c *Client) Start(ctx context.Context, execute Route, in any, opts ...StartOption) (*Run, error) {
	r, err := executeRequest(execute, in, opts)
	if err != nil {
		return nil, err
	}
	var run Run
	if err := c.call(ctx, r, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// Wait follows the run's events until it finishes and returns it as GET
// /runs/{run_id} then shows it (with its outputs). A failed or cancelled
// run is returned like a succeeded one, not as an error. Wait fails with a
// *Error when the server refuses to show the run, and with ctx's error when
// ctx is done first.
func (c *Client) Wait(ctx context.Context, runID string) (*Run, error) {
	for {
		var streamErr error
		for ev, err := range c.Events(ctx, runID) {
			if err != nil {
				streamErr = err
				break
			}
			if ev.Finished() {
				break
			}
		}
		var herr *Error
		if errors.As(streamErr, &herr) && herr.Status != http.StatusTooManyRequests && herr.Status != http.StatusServiceUnavailable {
			return nil, streamErr // refused: 401, 403, 404, ...
		}
		run, err := c.GetRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		if run.Status.Finished() {
			return run, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if streamErr != nil {
			// The stream broke (or could not open) before the run ended:
			// pause before following it again.
			if err := c.sleep(ctx, time.Second); err != nil {
				return nil, err
			}
		}
	}
}

// RunPipeline starts a run of the pipeline whose execute route is execute
// with the inputs in, waits for it to finish (the server holds the request
// up to DefaultWait, then the run's events are followed) and returns its
// outputs decoded into O, the pipeline's generated output struct. A run
// that fails or is cancelled is a *RunError; an HTTP error a *Error.
func RunPipeline[O any](ctx context.Context, c *Client, execute Route, in any, opts ...StartOption) (*O, error) {
	r, err := executeRequest(execute, in, opts)
	if err != nil {
		return nil, err
	}
	r.query = url.Values{"wait": {DefaultWait.String()}}
	var run Run
	if err := c.call(ctx, r, &run); err != nil {
		return nil, err
	}
	final := &run
	if !run.Status.Finished() {
		if final, err = c.Wait(ctx, run.ID); err != nil {
			return nil, err
		}
	}
	return DecodeOutputs[O](final)
}

// DecodeOutputs decodes the outputs of a succeeded run into O, a struct
// whose JSON field names are the output names (the generated output
// struct). A run that failed or was cancelled is a *RunError; one that has
// not finished is an error too.
func DecodeOutputs[O any](run *Run) (*O, error) {
	switch {
	case run.Status == RunFailed || run.Status == RunCancelled:
		return nil, &RunError{Run: run}
	case run.Status != RunSucceeded:
		return nil, fmt.Errorf("taskwire: run %s is %s, not finished", run.ID, run.Status)
	}
	b, err := json.Marshal(run.Outputs)
	if err != nil {
		return nil, fmt.Errorf("taskwire: outputs of run %s: %w", run.ID, err)
	}
	out := new(O)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("taskwire: outputs of run %s: %w", run.ID, err)
	}
	return out, nil
}
