// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"errors"
	"fmt"
)

// Sentinel errors of the backends, re-exported by package runtime. Match
// them with errors.Is.
var (
	// ErrRunNotFound reports a run ID that the store does not hold (never
	// created, or already evicted).
	ErrRunNotFound = errors.New("run not found")
	// ErrDecode reports a Value that cannot be decoded into the requested type.
	ErrDecode = errors.New("cannot decode value")
	// ErrRunFailed is matched by the error of a run that ended failed.
	ErrRunFailed = errors.New("run failed")
	// ErrRunCancelled is matched by the error of a run that was cancelled.
	ErrRunCancelled = errors.New("run cancelled")
	// ErrPipelineTimeout is matched by the error of a run that exceeded its
	// pipeline timeout.
	ErrPipelineTimeout = errors.New("pipeline timeout exceeded")
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
	// ErrNoChangeAnyRevision is ErrNoChange (errors.Is holds) from an
	// Update function whose decision holds on an older revision of the
	// record too: it only looked, and every write that follows from what
	// it saw is checked against the record again, and it left the record
	// as it was. A store that keeps records it has not just read (a cache)
	// may then skip the read, and start its next update from that record.
	ErrNoChangeAnyRevision = fmt.Errorf("%w (on any revision)", ErrNoChange)
	// ErrUnavailable is wrapped by backend errors that say the backend
	// could not be reached or could not answer for now (a broker restart,
	// a leader election) rather than that the request was wrong: the same
	// request may succeed later.
	ErrUnavailable = errors.New("backend unavailable")
)

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

// Errors a Store returns for a value it can never keep, however often it is
// asked: the runtime fails the task that produced the value at once, with
// the error as the reason, instead of handing its message back for another
// delivery.
var (
	// ErrValueTooLarge reports a value, or a run record, larger than the
	// store can keep.
	ErrValueTooLarge = errors.New("value too large for the store")
	// ErrEncode reports a value the store cannot encode as JSON.
	ErrEncode = errors.New("cannot encode value as JSON")
)

// Deterministic reports whether err is a store error that a retry would
// meet again: it wraps ErrValueTooLarge or ErrEncode.
func Deterministic(err error) bool {
	return errors.Is(err, ErrValueTooLarge) || errors.Is(err, ErrEncode)
}
