// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// EventType names what an Event reports.
type EventType string

// The event types of a run's stream, in the order they happen.
const (
	// EventSnapshot comes first: the run as it was when the stream opened
	// (Event.Run).
	EventSnapshot EventType = "snapshot"
	// EventRunStarted: the run's first task execution began.
	EventRunStarted EventType = "run_started"
	// EventTaskStarted: an attempt of a task (a map element: Index) began.
	EventTaskStarted EventType = "task_started"
	// EventTaskRetrying: an attempt failed (Error) and is retried after
	// RetryIn.
	EventTaskRetrying EventType = "task_retrying"
	// EventTaskSucceeded: the task produced its output.
	EventTaskSucceeded EventType = "task_succeeded"
	// EventTaskFailed: the task failed for good; the run fails.
	EventTaskFailed EventType = "task_failed"
	// EventTaskElementSucceeded: one element of a map task (Index)
	// produced its output, at its attempt Attempt.
	EventTaskElementSucceeded EventType = "task_element_succeeded"
	// EventTaskElementFailed: one element of a map task (Index) failed for
	// good (Error); task_failed follows.
	EventTaskElementFailed EventType = "task_element_failed"
	// EventRunSucceeded, EventRunFailed and EventRunCancelled end the
	// stream.
	EventRunSucceeded EventType = "run_succeeded"
	EventRunFailed    EventType = "run_failed"
	EventRunCancelled EventType = "run_cancelled"
)

// Event reports a change in a run, as GET /runs/{run_id}/events streams it.
type Event struct {
	Type       EventType `json:"type"`
	RunID      string    `json:"run_id"`
	PipelineID string    `json:"pipeline_id"`
	// Task is the task concerned, empty for run events.
	Task string `json:"task"`
	// Index is the element of a map task, or -1.
	Index int `json:"index"`
	// Attempt is the attempt concerned, for task events.
	Attempt int `json:"attempt"`
	// Error is the failure of task_retrying, task_failed,
	// task_element_failed, run_failed and run_cancelled.
	Error string `json:"error"`
	// RetryIn is the delay before the next attempt, for task_retrying.
	RetryIn time.Duration `json:"retry_in"`
	Time    time.Time     `json:"time"`
	// Run is the run's state, for the snapshot.
	Run *Run `json:"-"`
}

// Finished reports whether the event is the end of its run: a terminal run
// event, or a snapshot of a run that had already finished.
func (ev Event) Finished() bool {
	switch ev.Type {
	case EventRunSucceeded, EventRunFailed, EventRunCancelled:
		return true
	case EventSnapshot:
		return ev.Run != nil && ev.Run.Status.Finished()
	}
	return false
}

// ErrStreamEnded is wrapped by the error of an event stream that ended
// before its run finished (the server closes streams after a while, and on
// shutdown); follow the run again, or read it with GetRun.
var ErrStreamEnded = errors.New("event stream ended before the run finished")

// maxEventSize bounds one event of a stream (a snapshot carries the run's
// outputs).
const maxEventSize = 64 << 20

// Events returns the events of a run as they happen: first a snapshot of
// the run, then each task and run event, ending after the run's terminal
// event. A failure ends the sequence with one (zero Event, error) pair: a
// *Error when the server refuses the stream, an error wrapping
// ErrStreamEnded when it ends early, or ctx's error. Stop ranging, or
// cancel ctx, to close the stream.
//
//	for ev, err := range c.Events(ctx, run.ID) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.Task)
//	}
func (c *Client) Events(ctx context.Context, runID string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := &request{route: c.routes.RunEvents, params: map[string]string{"run_id": runID}, safe: true, accept: "text/event-stream"}
		resp, err := c.send(ctx, r)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer resp.Body.Close()
		var finished, stopped bool
		var decodeErr error
		err = readStream(resp.Body, func(name string, data []byte) bool {
			ev, err := decodeEvent(name, data)
			if err != nil {
				decodeErr = err
				return false
			}
			finished = ev.Finished()
			if !yield(ev, nil) {
				stopped = true
				return false
			}
			return !finished
		})
		switch {
		case finished || stopped:
		case decodeErr != nil:
			yield(Event{}, fmt.Errorf("client: %s: run %s: %w", r.route.OperationID, runID, decodeErr))
		case ctx.Err() != nil:
			yield(Event{}, ctx.Err())
		case err != nil:
			yield(Event{}, fmt.Errorf("client: %s: reading the stream of run %s: %w", r.route.OperationID, runID, err))
		default:
			yield(Event{}, fmt.Errorf("client: %s: run %s: %w", r.route.OperationID, runID, ErrStreamEnded))
		}
	}
}

// decodeEvent decodes one Server-Sent Event of a run stream: the snapshot's
// data is the run itself, every other event's data the event.
func decodeEvent(name string, data []byte) (Event, error) {
	if EventType(name) == EventSnapshot {
		var run Run
		if err := json.Unmarshal(data, &run); err != nil {
			return Event{}, fmt.Errorf("decoding the snapshot: %w", err)
		}
		return Event{Type: EventSnapshot, RunID: run.ID, PipelineID: run.PipelineID, Index: -1, Run: &run}, nil
	}
	ev := Event{Index: -1}
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, fmt.Errorf("decoding a %s event: %w", name, err)
	}
	if ev.Type == "" {
		ev.Type = EventType(name)
	}
	return ev, nil
}

// readStream reads a text/event-stream body and calls fn with the name
// ("message" when the event has none) and data of each event, until the
// body ends, fn returns false or reading fails. Comments, ids
// and retry fields are skipped. Data lines of one event are joined with
// newlines, as the Server-Sent Events standard says.
func readStream(body io.Reader, fn func(name string, data []byte) bool) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	var name string
	var data bytes.Buffer
	hasData := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 { // dispatch
			if hasData {
				n := name
				if n == "" {
					n = "message"
				}
				if !fn(n, data.Bytes()) {
					return nil
				}
			}
			name, hasData = "", false
			data.Reset()
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
	}
	return sc.Err()
}
