// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Store keeps runs: their status, task states and values. It is the only
// place run state lives, so that any process (API or worker) can carry a run
// forward and an API restart loses nothing. Implementations must be safe for
// concurrent use; MemoryStore is the embedded default.
type Store interface {
	// Create stores rec as a new run and returns its view with created true.
	// When rec.IdempotencyKey is set and a run of the same pipeline with
	// that key exists, it stores nothing and returns that run's view with
	// created false. The store owns rec after the call.
	Create(ctx context.Context, rec *RunRecord) (run *Run, created bool, err error)
	// Get returns the view of a run, or an error wrapping ErrRunNotFound.
	Get(ctx context.Context, runID string) (*Run, error)
	// Update applies fn to the run's record atomically: no other update of
	// the run interleaves, and the result is stored unless fn returns an
	// error. A store using compare-and-swap may call fn several times with
	// fresh records, so fn must derive everything from the record it gets
	// and reset anything it captures; fn must not modify the record when it
	// returns an error. If fn returns ErrNoChange, Update stores nothing and
	// returns nil; other fn errors are returned as is. A missing run yields
	// an error wrapping ErrRunNotFound.
	Update(ctx context.Context, runID string, fn func(rec *RunRecord) error) error
	// List returns runs newest first, filtered by opts, one page at a time.
	// Walking pages with NextCursor visits every run that existed when the
	// walk began and was not evicted meanwhile exactly once.
	List(ctx context.Context, opts ListOptions) (RunPage, error)
	// Unfinished returns the IDs of the runs that are not terminal, so that
	// a restarted engine can resume them.
	Unfinished(ctx context.Context) ([]string, error)
}

// Forgetter is implemented by a Store that keeps state of unfinished runs:
// records it has not just read (a cache of its own writes, or records task
// messages carry), or what marks a run unfinished. Forget tells it that the
// run ended elsewhere, so that it trusts nothing it holds or is handed
// later of that run and reads the record instead, and lets go of what marks
// it unfinished. Engines and workers call it for each run-ended event.
type Forgetter interface {
	Forget(runID string)
}

// EndReader is implemented by a Store that may have the state a run ended
// in without reading it: brought by the run's run-ended event, for
// example. End returns that state once, if the run ended (FinishedAt) at
// or after since, ok false otherwise, so that a wait woken by the event
// returns the run as it ended with no read of the store; since, when the
// wait began, tells an end the wait is for from an earlier one (a run
// requeued since). It is only asked after such an event, and holds a state
// for no longer than a moment.
type EndReader interface {
	End(ctx context.Context, runID string, since time.Time) (r *Run, ok bool, err error)
}

// DefaultListLimit is the page size of List when ListOptions.Limit is zero;
// MaxListLimit caps it.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListOptions filters and pages List.
type ListOptions struct {
	// PipelineID keeps only runs of that pipeline when set.
	PipelineID string
	// Status keeps only runs with that status when set.
	Status RunStatus
	// Limit is the page size: zero means DefaultListLimit, larger than
	// MaxListLimit means MaxListLimit.
	Limit int
	// Cursor continues a previous walk; empty starts at the newest run.
	Cursor string
}

func (o ListOptions) limit() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
}

// RunPage is one page of List.
type RunPage struct {
	Runs []*Run `json:"runs"`
	// NextCursor continues the walk; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// EncodeCursor makes an opaque List cursor from a sequence number in the
// store's creation order; kind tells the stores apart ("c" for memory, "j" for JetStream), so
// that a cursor from one kind of store is refused by another.
func EncodeCursor(kind string, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "1." + strconv.FormatUint(seq, 10)))
}

// DecodeCursor reverses EncodeCursor for a store of the given kind. A cursor
// it did not make yields an error wrapping ErrInvalidCursor.
func DecodeCursor(kind, c string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	prefix := kind + "1."
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidCursor, c)
	}
	seq, err := strconv.ParseUint(string(b[len(prefix):]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrInvalidCursor, c)
	}
	return seq, nil
}
