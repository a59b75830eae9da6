// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"strconv"
	"time"
)

// TaskMessage asks a worker to execute one task (one element, for a map
// task) of a run. It carries only identifiers: inputs are read from the
// Store, so the message is small, JSON-serialisable and meaningful to a
// worker in another process.
type TaskMessage struct {
	RunID      string `json:"run_id"`
	PipelineID string `json:"pipeline_id"`
	Task       string `json:"task"`
	// Index is the element of a map task, or -1.
	Index int `json:"index"`
	// Gen is the run's generation (RunRecord.Generation) when the message
	// was made: a run reopened by a requeue enqueues its tasks again under
	// new identities, which a broker's deduplication must not drop.
	Gen int `json:"gen,omitempty"`
	// Trace is the W3C traceparent of the run's span, when the run is
	// traced. A broker carries it in a message header.
	Trace string `json:"-"`
}

// ID returns the message's deterministic identity, "runID/task/index" (and
// "/gN" in generation N > 0 of the run), for broker-side deduplication of
// repeated enqueues (for example the Nats-Msg-Id header). Retries redeliver
// the same message, so the attempt is not part of it.
func (m TaskMessage) ID() string {
	id := m.RunID + "/" + m.Task + "/" + strconv.Itoa(m.Index)
	if m.Gen > 0 {
		id += "/g" + strconv.Itoa(m.Gen)
	}
	return id
}

// Broker carries task messages from whoever makes a task ready to the
// workers that execute it: a work queue with explicit acknowledgement.
// MemoryBroker is the embedded default; a JetStream broker maps Enqueue to a
// publish with a Nats-Msg-Id of TaskMessage.ID, Receive to a pull-consumer
// fetch, and the Delivery methods to Ack, NakWithDelay, Term and InProgress.
type Broker interface {
	// Enqueue adds msg to the queue. It must not block on consumers.
	Enqueue(ctx context.Context, msg TaskMessage) error
	// Receive blocks until a message is available, ctx is done (returning
	// ctx.Err()), or the broker is closed (returning ErrBrokerClosed).
	Receive(ctx context.Context) (Delivery, error)
	// Close stops deliveries and pending redeliveries and releases
	// resources. Blocked Receive calls return ErrBrokerClosed.
	Close() error
}

// Continuer is implemented by brokers whose messages cost more than
// running the next task where the last one ran (JetStream: a stored
// message, its delivery and its ack). Continue returns a delivery of msg,
// a task that the execution of d made ready, carried by d: the worker runs
// it next, on its own, without enqueuing it. Until the continuation is
// settled d is not: if the worker dies, d's redelivery finds its task
// recorded and enqueues again the tasks of the run that should be queued,
// msg among them. Ack acknowledges d; Nak enqueues msg and acknowledges d
// (or, if msg cannot be enqueued, hands d back); Term records msg as dead
// and acknowledges d. Its Attempt is 1 and it is never Last.
type Continuer interface {
	Continue(d Delivery, msg TaskMessage) Delivery
}

// Delivery is one delivery of a TaskMessage. Exactly one of Ack, Nak and Term
// must be called once the worker is done with it.
type Delivery interface {
	// Message returns the delivered message.
	Message() TaskMessage
	// Attempt returns the 1-based delivery count of the message: 1 on the
	// first delivery, n after n-1 Naks (or redeliveries after a crash).
	Attempt() int
	// Enqueued returns when the message was first enqueued.
	Enqueued() time.Time
	// Last reports whether the broker will not deliver the message again
	// after this delivery (it has a delivery limit and this is the last).
	Last() bool
	// Ack removes the message: it was handled.
	Ack() error
	// Nak asks for redelivery after delay; the runtime uses it for retries
	// with backoff.
	Nak(delay time.Duration) error
	// Term removes the message for good and records it as dead, with the
	// reason: it failed permanently or could not be handled.
	Term(reason string) error
	// InProgress tells the broker the message is still being worked on,
	// postponing redelivery to another worker.
	InProgress() error
}

// DeadLetter records a task message a broker gave up on: it failed
// permanently (Delivery.Term) or used up its deliveries.
type DeadLetter struct {
	// ID names the dead letter in the API (DeadLetterID of its run, task
	// and index): a later dead letter of the same execution replaces it.
	ID string `json:"id"`
	// MessageID is the task message's ID (TaskMessage.ID).
	MessageID  string `json:"message_id"`
	RunID      string `json:"run_id"`
	PipelineID string `json:"pipeline_id"`
	Task       string `json:"task"`
	// Index is the element of a map task, or -1.
	Index int `json:"index"`
	// Reason is why: the task's final error, or that its deliveries ran out.
	Reason string `json:"reason"`
	// Deliveries is how many times the message was delivered.
	Deliveries int `json:"deliveries"`
	// Exhausted reports that the broker's delivery limit was used up (rather
	// than a permanent failure terminating the message).
	Exhausted bool      `json:"exhausted,omitempty"`
	Time      time.Time `json:"time"`
}

// NewDeadLetter returns the dead letter of m after deliveries deliveries.
func NewDeadLetter(m TaskMessage, deliveries int, reason string, exhausted bool, now time.Time) DeadLetter {
	return DeadLetter{ID: DeadLetterID(m.RunID, m.Task, m.Index), MessageID: m.ID(), RunID: m.RunID, PipelineID: m.PipelineID, Task: m.Task, Index: m.Index,
		Reason: reason, Deliveries: deliveries, Exhausted: exhausted, Time: now}
}
