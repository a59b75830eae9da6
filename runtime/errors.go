// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"errors"
	"fmt"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Sentinel errors returned (wrapped) by the runtime. Match them with errors.Is.
var (
	// ErrUnknownPipeline reports a pipeline ID that was never registered.
	ErrUnknownPipeline = errors.New("unknown pipeline")
	// ErrShuttingDown reports that the engine no longer accepts work because
	// Shutdown was called.
	ErrShuttingDown = errors.New("engine is shutting down")
	// ErrInvalidPipeline reports a pipeline definition rejected at
	// registration; the wrapping error names every problem found.
	ErrInvalidPipeline = errors.New("invalid pipeline")
	// ErrInvalidTask reports a task function rejected at registration.
	ErrInvalidTask = errors.New("invalid task")
	// ErrInvalidInput reports run inputs that do not match the pipeline's
	// declared inputs.
	ErrInvalidInput = errors.New("invalid run input")
	// ErrIdempotencyKeyReused reports an idempotency key used again with
	// other inputs than the run it started (as the IETF Idempotency-Key
	// draft and Stripe refuse it): the key names one request, not one run
	// slot.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with other inputs")
	// ErrMissingInput reports a task input that is absent.
	ErrMissingInput = errors.New("missing input")
	// ErrRunFinished reports an operation, such as Cancel, on a run that has
	// already reached a terminal status.
	ErrRunFinished = errors.New("run already finished")
	// ErrRunNotFinished reports reading the outputs of a run that has not
	// finished.
	ErrRunNotFinished = errors.New("run not finished")
	// ErrTaskTimeout is wrapped by the error of a task attempt that exceeded
	// its task timeout.
	ErrTaskTimeout = errors.New("task timeout exceeded")
	// ErrTaskPanicked is wrapped by the error of a task attempt whose function
	// panicked. Panics are permanent failures: they are not retried.
	ErrTaskPanicked = errors.New("task panicked")
	// ErrNotImplemented is wrapped by the error of a task whose method is
	// not implemented yet: see NotImplemented.
	ErrNotImplemented = errors.New("task not implemented")
)

// NotImplemented returns the error of a task that has no implementation
// yet: permanent (a retry would not find one) and wrapping
// ErrNotImplemented, naming the task and the Go method to write. The
// generated UnimplementedTasks returns it from every method.
func NotImplemented(task, method string) error {
	return Permanent(fmt.Errorf("%w: task %q has no implementation; write the method %s of your Tasks implementation", ErrNotImplemented, task, method))
}

// Errors defined with the backends (package driver), matched by errors.Is
// like the ones above.
var (
	ErrRunNotFound     = driver.ErrRunNotFound
	ErrUnavailable     = driver.ErrUnavailable
	ErrDecode          = driver.ErrDecode
	ErrRunFailed       = driver.ErrRunFailed
	ErrRunCancelled    = driver.ErrRunCancelled
	ErrPipelineTimeout = driver.ErrPipelineTimeout
	ErrInvalidCursor   = driver.ErrInvalidCursor
	ErrStoreFull       = driver.ErrStoreFull
	ErrValueTooLarge   = driver.ErrValueTooLarge
	ErrEncode          = driver.ErrEncode
)

// PermanentError marks a task failure that must not be retried. Task
// functions create it with Permanent; match it with errors.As, or use
// IsPermanent.
type PermanentError struct {
	// Err is the underlying failure.
	Err error
}

// Error returns the underlying error's message.
func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent error"
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error, so errors.Is sees through the marker.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the runtime fails the task at once instead of
// retrying it. Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is a PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// PublicMessager is implemented by task errors whose message may be shown
// to clients of the HTTP API. A task's error is otherwise its own text,
// which may hold anything (a path, a query, a secret): the run records it,
// the log holds it under an error id, and clients see only "task failed
// (error id ID)". When errors.As finds a PublicMessager in a task's error,
// clients see its PublicMessage instead, verbatim, and the run records
// that message; the full error still goes to the log.
type PublicMessager interface {
	PublicMessage() string
}

// SafeError marks err as safe to show to clients: the run's error and the
// HTTP API show err's text as it is (see PublicMessager). Wrap only errors
// whose text holds nothing a caller of the API may not see. It keeps err
// matchable with errors.Is and errors.As, Permanent included; SafeError(nil)
// returns nil.
func SafeError(err error) error {
	if err == nil {
		return nil
	}
	return &safeError{err: err}
}

// PublicError returns a new error with message msg, safe to show to
// clients (SafeError(errors.New(msg))).
func PublicError(msg string) error { return &safeError{err: errors.New(msg)} }

type safeError struct{ err error }

func (e *safeError) Error() string         { return e.err.Error() }
func (e *safeError) Unwrap() error         { return e.err }
func (e *safeError) PublicMessage() string { return e.err.Error() }

// RunError is the error of a run that did not succeed, as returned by
// Run.Err; see driver.RunError.
type RunError = driver.RunError
