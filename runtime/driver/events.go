// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"time"
)

// EventType names what an Event reports.
type EventType string

// Event types.
const (
	// EventSnapshot is delivered first to a run subscriber; Run holds the
	// run's state at subscription time.
	EventSnapshot EventType = "snapshot"
	// EventRunStarted: the run's first task execution began.
	EventRunStarted EventType = "run_started"
	// EventTaskStarted: an attempt began (one per element of a map task,
	// with Index set).
	EventTaskStarted EventType = "task_started"
	// EventTaskRetrying: an attempt failed and the task (element) will be
	// retried after RetryIn; Error is the failure.
	EventTaskRetrying EventType = "task_retrying"
	// EventTaskSucceeded: the task produced its output (for a map task,
	// once, when every element has).
	EventTaskSucceeded EventType = "task_succeeded"
	// EventTaskFailed: the task (element) failed for good; the run fails.
	EventTaskFailed EventType = "task_failed"
	// EventTaskElementSucceeded: one element of a map task produced its
	// output (Index, and Attempt the element's own attempt).
	EventTaskElementSucceeded EventType = "task_element_succeeded"
	// EventTaskElementFailed: one element of a map task failed for good
	// (Index, Attempt, Error); task_failed follows.
	EventTaskElementFailed EventType = "task_element_failed"
	// EventRunSucceeded: every task succeeded.
	EventRunSucceeded EventType = "run_succeeded"
	// EventRunFailed: a task failed or the pipeline timed out; Error says
	// which.
	EventRunFailed EventType = "run_failed"
	// EventRunCancelled: the run was cancelled.
	EventRunCancelled EventType = "run_cancelled"
)

// RunEnded reports whether t is one of the three terminal run events.
func (t EventType) RunEnded() bool {
	return t == EventRunSucceeded || t == EventRunFailed || t == EventRunCancelled
}

func (t EventType) bit() uint16 {
	switch t {
	case EventSnapshot:
		return 1 << 0
	case EventRunStarted:
		return 1 << 1
	case EventTaskStarted:
		return 1 << 2
	case EventTaskRetrying:
		return 1 << 3
	case EventTaskSucceeded:
		return 1 << 4
	case EventTaskFailed:
		return 1 << 5
	case EventRunSucceeded:
		return 1 << 6
	case EventRunFailed:
		return 1 << 7
	case EventRunCancelled:
		return 1 << 8
	case EventTaskElementSucceeded:
		return 1 << 9
	case EventTaskElementFailed:
		return 1 << 10
	}
	return 1 << 15
}

// Event reports a change in a run. It is JSON-serialisable so that it can
// cross processes.
type Event struct {
	Type       EventType `json:"type"`
	RunID      string    `json:"run_id"`
	PipelineID string    `json:"pipeline_id"`
	// Task is the task concerned, empty for run events.
	Task string `json:"task,omitempty"`
	// Index is the element of a map task, or -1.
	Index int `json:"index"`
	// Attempt is the attempt concerned, for task events.
	Attempt int `json:"attempt,omitempty"`
	// Error is the failure reported by task_retrying, task_failed,
	// task_element_failed, run_failed and run_cancelled.
	Error string `json:"error,omitempty"`
	// ErrorID identifies Error in the log when it is a task's own text,
	// which the HTTP API does not show (see PublicError).
	ErrorID string `json:"error_id,omitempty"`
	// RetryIn is the delay before the next attempt, for task_retrying.
	RetryIn time.Duration `json:"retry_in,omitempty"`
	Time    time.Time     `json:"time"`
	// Run is the run's state, for snapshot events.
	Run *Run `json:"run,omitempty"`
	// Dropped counts the events this subscriber lost (buffer full) just
	// before this one.
	Dropped uint64 `json:"dropped,omitempty"`
}

// PublicError is the event's error as clients of the HTTP API see it
// (see PublicError).
func (e Event) PublicError() string { return PublicError(e.Error, e.ErrorID) }

// EventFilter selects events. Empty fields select everything.
type EventFilter struct {
	// RunID selects one run's events.
	RunID string
	// PipelineID selects the events of one pipeline's runs.
	PipelineID string
	// Types selects these event types only.
	Types []EventType
}

func (f EventFilter) mask() uint16 {
	if len(f.Types) == 0 {
		return ^uint16(0)
	}
	var m uint16
	for _, t := range f.Types {
		m |= t.bit()
	}
	return m
}

// SubscribeOptions tunes a subscription.
type SubscribeOptions struct {
	// Buffer is the number of events held for a slow subscriber; zero
	// means DefaultEventBuffer.
	Buffer int
	// Initial, when set, is called once the subscription is registered and
	// before any live event reaches it; its events are delivered first. The
	// engine uses it to deliver a run snapshot. If any initial event is
	// terminal for a run subscription, the subscription ends after it.
	Initial func() ([]Event, error)
}

// DefaultEventBuffer is the buffer size of a subscription when
// SubscribeOptions.Buffer is zero.
const DefaultEventBuffer = 64

// EventBus fans events out to subscribers. Publish never blocks on a
// subscriber: when a subscriber's buffer is full the event is dropped for
// it, its Dropped count grows, and the next event it does receive carries
// the number lost in Event.Dropped. A subscription filtered by run ends
// (its channel is closed) after that run's terminal event. MemoryBus is the
// embedded default; a NATS bus publishes on per-run subjects.
type EventBus interface {
	// Publish delivers ev to the matching subscribers.
	Publish(ctx context.Context, ev Event) error
	// Subscribe registers a subscriber. The subscription ends when ctx is
	// done, on Close, or after the terminal event of the run it filters.
	Subscribe(ctx context.Context, f EventFilter, opts SubscribeOptions) (Subscription, error)
}

// Subscription is a stream of events.
type Subscription interface {
	// Events returns the channel of events; it is closed when the
	// subscription ends.
	Events() <-chan Event
	// Dropped returns how many events were lost because the buffer was full.
	Dropped() uint64
	// Close ends the subscription. It is safe to call more than once.
	Close() error
}
