// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// pollWait is the expiry of one pull request; Receive waits until a
// message comes, its context is done or the broker is closed.
const pollWait = 5 * time.Second

// Broker is a driver.Broker on a JetStream work-queue stream. Enqueue
// publishes with Nats-Msg-Id = TaskMessage.ID and waits for the stream's
// ack; Receive pulls from the shared durable consumer only as many
// messages as callers wait for (see puller), so a worker holds only the
// messages it is executing. Create it through a Backend.
type Broker struct {
	js         jetstream.JetStream
	stream     string // the task stream and its consumer
	consumer   string
	subject    string
	maxDeliver int
	dead       jetstream.KeyValue
	log        *slog.Logger
	// onExhausted is told about an execution dead-lettered because its
	// deliveries ran out.
	onExhausted func(msg driver.TaskMessage, deliveries int, reason string)
	store       *Store // whose remembered records task messages carry

	pullMu     sync.Mutex
	puller     *puller
	pullLogged time.Time

	closeOnce sync.Once
	done      chan struct{}
}

var _ driver.Broker = (*Broker)(nil)

// Enqueue implements driver.Broker: the message is stored in the stream
// when it returns nil. A repeat of the same TaskMessage.ID within the
// duplicate window is dropped by the server.
func (b *Broker) Enqueue(ctx context.Context, m driver.TaskMessage) error {
	select {
	case <-b.done:
		return driver.ErrBrokerClosed
	default:
	}
	var snap revEntry
	if b.store != nil {
		if e, ok := b.store.revs.get(m.RunID); ok && len(e.data) <= maxSnapshot {
			snap = e
		}
	}
	data := appendTaskMessage(make([]byte, 0, 160+len(snap.data)), &m)
	if snap.data != nil {
		data = appendSnapshot(data, snap.rev, snap.data)
	}
	msg := nats.NewMsg(b.subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, m.ID())
	if m.Trace != "" {
		msg.Header[traceHeader] = []string{m.Trace}
	}
	if _, err := b.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("natsjs: enqueue %s: %w", m.ID(), err)
	}
	return nil
}

// Receive implements driver.Broker: it waits for a message with the
// broker's puller, made at the first call (an API process that runs no
// tasks never subscribes).
func (b *Broker) Receive(ctx context.Context) (driver.Delivery, error) {
	for {
		select {
		case <-b.done:
			return nil, driver.ErrBrokerClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := b.pullerOnce()
		if err != nil {
			return nil, err
		}
		m, err := p.receive(ctx, b.done)
		if err == nil {
			d, derr := b.delivery(m)
			if derr != nil {
				b.log.Error("taskwire: malformed task message", "subject", m.Subject, "err", derr)
				_ = b.termWithReason(m, "malformed task message")
				continue
			}
			return d, nil
		}
		select {
		case <-b.done:
			return nil, driver.ErrBrokerClosed
		default:
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, driver.ErrBrokerClosed
		}
		return nil, fmt.Errorf("natsjs: receive: %w", err)
	}
}

// pullerOnce returns the broker's puller, made at the first call.
func (b *Broker) pullerOnce() (*puller, error) {
	b.pullMu.Lock()
	defer b.pullMu.Unlock()
	if b.puller == nil {
		p, err := newPuller(b.js.Conn(), b.stream, b.consumer, b.pullFailed)
		if err != nil {
			return nil, err
		}
		b.puller = p
	}
	return b.puller, nil
}

// pullFailed logs a pull request that could not be sent or that the server
// refused, at most once every pullLogEvery while it goes on.
func (b *Broker) pullFailed(err error) {
	b.pullMu.Lock()
	now := time.Now()
	quiet := now.Sub(b.pullLogged) < pullLogEvery
	if !quiet {
		b.pullLogged = now
	}
	b.pullMu.Unlock()
	if !quiet {
		b.log.Warn("taskwire: receive task", "err", err)
	}
}

const pullLogEvery = 5 * time.Second

func (b *Broker) delivery(m *nats.Msg) (*delivery, error) {
	var wt wireTask
	if !readTaskMessage(m.Data, &wt) { // encoding/json reads the rest, or says what is wrong
		wt = wireTask{}
		if err := json.Unmarshal(m.Data, &wt); err != nil {
			return nil, err
		}
	}
	tm := wt.TaskMessage
	if tm.RunID == "" || tm.Task == "" {
		return nil, errors.New("task message without run or task")
	}
	if h := m.Header; h != nil {
		if tp := h[traceHeader]; len(tp) == 1 {
			tm.Trace = tp[0]
		}
	}
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	// The whole message, the record with it, has been checked as valid
	// JSON; a record that is not an object is no record.
	if sn := wt.Snapshot; sn != nil && b.store != nil && sn.Rev > 0 && len(sn.Record) > 0 && sn.Record[0] == '{' {
		b.store.revs.offer(tm.RunID, sn.Record, sn.Rev)
	}
	return &delivery{b: b, m: m, msg: tm, attempt: int(meta.NumDelivered), enqueued: meta.Timestamp}, nil
}

// wireTask is a task message as the task stream holds it: the message and,
// when the enqueuing process had it at hand, the run's record as it stood
// (its stored bytes and KV revision), so that the worker that runs the task
// begins from it and swaps its result in from that revision without
// reading the record first. A stale snapshot costs a failed swap and a
// read, never a wrong write; a process that does not know the field
// ignores it.
type wireTask struct {
	driver.TaskMessage
	Snapshot *wireSnapshot `json:"snapshot,omitempty"`
}

type wireSnapshot struct {
	Rev    uint64          `json:"rev"`
	Record json.RawMessage `json:"record"`
}

// appendSnapshot adds the snapshot field to msg, a wireTask without one
// as json.Marshal wrote it, with record as it is: json.Marshal would check
// and compact the record's bytes again, which the store wrote compact
// (encodeRecord) or has decoded (every record its cache holds).
func appendSnapshot(msg []byte, rev uint64, record []byte) []byte {
	if len(msg) < 2 || msg[len(msg)-1] != '}' {
		return msg
	}
	out := msg[:len(msg)-1] // in place when msg has the room
	if len(msg) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"snapshot":{"rev":`...)
	out = strconv.AppendUint(out, rev, 10)
	out = append(out, `,"record":`...)
	out = append(out, record...)
	return append(out, "}}"...)
}

// maxSnapshot is the largest record a task message carries: a larger one
// (a map task's, with many elements) is read by the worker instead.
const maxSnapshot = 8 << 10

// traceHeader carries a task message's trace context (W3C Trace Context).
const traceHeader = "traceparent"

// Close implements driver.Broker: blocked and later Receive calls return
// driver.ErrBrokerClosed, and Enqueue fails. Messages stay in the stream;
// those received and not yet handed to a caller go back at once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.done)
		b.pullMu.Lock()
		p := b.puller
		b.pullMu.Unlock()
		if p != nil {
			p.close()
		}
	})
	return nil
}

// delivery is one delivery of a task message.
type delivery struct {
	b        *Broker
	m        *nats.Msg
	msg      driver.TaskMessage
	attempt  int
	enqueued time.Time
}

func (d *delivery) Message() driver.TaskMessage { return d.msg }
func (d *delivery) Attempt() int                { return d.attempt }
func (d *delivery) Enqueued() time.Time         { return d.enqueued }
func (d *delivery) Last() bool                  { return d.b.maxDeliver > 0 && d.attempt >= d.b.maxDeliver }
func (d *delivery) Ack() error                  { return d.m.Ack() }
func (d *delivery) InProgress() error           { return d.m.InProgress() }

var _ driver.Continuer = (*Broker)(nil)

// Continue implements driver.Continuer.
func (b *Broker) Continue(d driver.Delivery, msg driver.TaskMessage) driver.Delivery {
	return &continued{b: b, carrier: d, msg: msg, at: time.Now()}
}

// continued is a continuation: msg, run on the delivery carrier.
type continued struct {
	b       *Broker
	carrier driver.Delivery
	msg     driver.TaskMessage
	at      time.Time
}

func (c *continued) Message() driver.TaskMessage { return c.msg }
func (c *continued) Attempt() int                { return 1 }
func (c *continued) Enqueued() time.Time         { return c.at }
func (c *continued) Last() bool                  { return false }
func (c *continued) Ack() error                  { return c.carrier.Ack() }
func (c *continued) InProgress() error           { return c.carrier.InProgress() }

// Nak hands the continuation back to the queue: its message is enqueued
// (at once, whatever the delay) and the carrier acknowledged; if the
// broker refuses the message, the carrier is handed back instead, whose
// redelivery enqueues it.
func (c *continued) Nak(delay time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.b.Enqueue(ctx, c.msg); err != nil {
		c.b.log.Warn("taskwire: hand a continuation back", "run_id", c.msg.RunID, "task", c.msg.Task, "err", err)
		return c.carrier.Nak(delay)
	}
	return c.carrier.Ack()
}

// Term records the continuation's message as dead, as the Term of its own
// delivery would, and acknowledges the carrier, whose task is done.
func (c *continued) Term(reason string) error {
	c.b.deadLetter(c.msg, 1, reason, false)
	return c.carrier.Ack()
}

// Nak asks for redelivery after delay (NakWithDelay). At the last delivery
// MaxDeliver allows, the server would never redeliver: the execution is
// dead-lettered, terminated, and its run failed instead.
func (d *delivery) Nak(delay time.Duration) error {
	if d.b.maxDeliver > 0 && d.attempt >= d.b.maxDeliver {
		reason := fmt.Sprintf("delivered %d times (max deliver %d)", d.attempt, d.b.maxDeliver)
		d.b.deadLetter(d.msg, d.attempt, reason, true)
		err := d.b.termWithReason(d.m, reason)
		if d.b.onExhausted != nil {
			d.b.onExhausted(d.msg, d.attempt, reason)
		}
		return err
	}
	if delay <= 0 {
		return d.m.Nak()
	}
	return d.m.NakWithDelay(delay)
}

// Term removes the message for good and records a dead letter with reason.
func (d *delivery) Term(reason string) error {
	d.b.deadLetter(d.msg, d.attempt, reason, false)
	return d.b.termWithReason(d.m, truncate(reason, 256))
}

// termWithReason terminates a message: the server redelivers it no more,
// and tells the reason in its advisory.
func (b *Broker) termWithReason(m *nats.Msg, reason string) error {
	return b.js.Conn().Publish(m.Reply, []byte("+TERM "+reason))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// deadKey is the dead-letter bucket key of a message.
func deadKey(m driver.TaskMessage) string {
	return token(m.RunID) + "." + token(m.Task) + "." + strconv.Itoa(m.Index)
}

func (b *Broker) deadLetter(m driver.TaskMessage, deliveries int, reason string, exhausted bool) {
	dl := driver.NewDeadLetter(m, deliveries, reason, exhausted, time.Now().UTC())
	data, err := json.Marshal(dl)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = b.dead.Put(ctx, deadKey(m), data)
		cancel()
	}
	if err != nil {
		b.log.Error("taskwire: record dead letter", "message", m.ID(), "reason", reason, "err", err)
	}
}

// DeadLetters returns the dead-letter records, oldest first.
func (b *Broker) DeadLetters(ctx context.Context) ([]driver.DeadLetter, error) {
	lister, err := b.dead.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsjs: dead letters: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	out := make([]driver.DeadLetter, 0, len(keys))
	for _, k := range keys {
		e, err := b.dead.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("natsjs: dead letter %s: %w", k, err)
		}
		var dl driver.DeadLetter
		if err := json.Unmarshal(e.Value(), &dl); err == nil {
			out = append(out, dl)
		}
	}
	slices.SortFunc(out, func(a, b driver.DeadLetter) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// token makes s safe as one NATS subject token and KV key token: s itself
// when it holds only letters, digits, - and _, else "=" and its base64url
// encoding.
func token(s string) string {
	if validName(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}
