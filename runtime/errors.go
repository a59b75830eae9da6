package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped) by the runtime. Match them with errors.Is.
var (
	// ErrRunNotFound reports a run ID that the store does not hold (never
	// created, or already evicted).
	ErrRunNotFound = errors.New("run not found")
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
	// ErrMissingInput reports a task input that is absent.
	ErrMissingInput = errors.New("missing input")
	// ErrDecode reports a Value that cannot be decoded into the requested type.
	ErrDecode = errors.New("cannot decode value")
	// ErrRunFinished reports an operation, such as Cancel, on a run that has
	// already reached a terminal status.
	ErrRunFinished = errors.New("run already finished")
	// ErrRunNotFinished reports reading the outputs of a run that has not
	// finished.
	ErrRunNotFinished = errors.New("run not finished")
	// ErrRunFailed is matched by the error of a run that ended failed.
	ErrRunFailed = errors.New("run failed")
	// ErrRunCancelled is matched by the error of a run that was cancelled.
	ErrRunCancelled = errors.New("run cancelled")
	// ErrPipelineTimeout is matched by the error of a run that exceeded its
	// pipeline timeout.
	ErrPipelineTimeout = errors.New("pipeline timeout exceeded")
	// ErrTaskTimeout is wrapped by the error of a task attempt that exceeded
	// its task timeout.
	ErrTaskTimeout = errors.New("task timeout exceeded")
	// ErrTaskPanicked is wrapped by the error of a task attempt whose function
	// panicked. Panics are permanent failures: they are not retried.
	ErrTaskPanicked = errors.New("task panicked")
	// ErrInvalidCursor reports a List cursor that was not produced by the
	// store being asked.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrStoreFull reports that a store at its run cap holds no finished run
	// it could evict to make room.
	ErrStoreFull = errors.New("run store is full")
	// ErrBrokerClosed reports use of a broker after Close.
	ErrBrokerClosed = errors.New("broker closed")
	// ErrNoChange may be returned by a Store.Update function to leave the
	// record unchanged; Update then returns nil.
	ErrNoChange = errors.New("no change")
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

// RunError is the error of a run that did not succeed, as returned by
// Run.Err. It matches ErrRunFailed or ErrRunCancelled (and
// ErrPipelineTimeout for a timed-out run) with errors.Is.
type RunError struct {
	// RunID is the run that ended.
	RunID string
	// Status is the run's terminal status (failed or cancelled).
	Status RunStatus
	// Message is the run's error text, naming the failed task.
	Message string
	// TimedOut reports whether the pipeline timeout ended the run.
	TimedOut bool
}

// Error returns "run ID STATUS: MESSAGE".
func (e *RunError) Error() string {
	return fmt.Sprintf("run %s %s: %s", e.RunID, e.Status, e.Message)
}

// Is matches ErrRunFailed, ErrRunCancelled and ErrPipelineTimeout according
// to the run's outcome.
func (e *RunError) Is(target error) bool {
	switch target {
	case ErrRunFailed:
		return e.Status == RunFailed
	case ErrRunCancelled:
		return e.Status == RunCancelled
	case ErrPipelineTimeout:
		return e.TimedOut
	}
	return false
}
