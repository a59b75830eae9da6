// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Bus is a driver.EventBus on core NATS: each event is published as JSON
// on prefix.events.<pipeline>.<run>.<type> (tokens made subject-safe), and
// each subscription subscribes to the narrowest subject its filter allows.
// Core NATS is at-most-once: an event published while a subscriber is
// disconnected is lost, so after a reconnect the bus counts a drop on every
// subscription (the engine and workers then re-check the store) and ends
// run subscriptions whose run finished meanwhile with that run's terminal
// event. The store stays the authority. Create it through a Backend.
type Bus struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger
	// lookup reads a run, to resynchronise run subscriptions after a
	// reconnect.
	lookup func(ctx context.Context, runID string) (*driver.Run, error)
	// finals are the Store's records of ended runs: those to send with
	// their run-ended events, and those that came with them.
	finals *finals

	mu     sync.Mutex
	closed bool
	subs   map[*busSub]struct{}
}

var _ driver.EventBus = (*Bus)(nil)

func newBus(nc *nats.Conn, prefix string, log *slog.Logger) *Bus {
	b := &Bus{nc: nc, prefix: prefix, log: log, subs: make(map[*busSub]struct{})}
	prev := nc.Opts.ReconnectedCB
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		go b.resync()
	})
	return b
}

// subject is the subject of an event.
func (b *Bus) subject(ev driver.Event) string {
	return b.prefix + "." + token(ev.PipelineID) + "." + token(ev.RunID) + "." + token(string(ev.Type))
}

// Publish implements driver.EventBus. It hands the event to the
// connection's buffer and never waits for subscribers. A run-ended event
// of a run this process ended carries the run's last record, under
// recordField, as long as the record is not over maxFinal.
func (b *Bus) Publish(_ context.Context, ev driver.Event) error {
	ev.Run, ev.Dropped = nil, 0 // snapshots are per subscriber; drops are counted by each
	data, ok := appendEvent(make([]byte, 0, 256), &ev)
	if !ok {
		var err error
		if data, err = json.Marshal(ev); err != nil {
			return err
		}
	}
	if ev.Type.RunEnded() && b.finals != nil {
		if rec := b.finals.forPublish(ev.RunID); rec != nil {
			data = append(append(append(data[:len(data)-1], recordMember...), rec...), '}')
		}
	}
	return b.nc.Publish(b.subject(ev), data)
}

// recordMember starts the last member of an event's JSON that carries a
// record. A JSON string escapes its quotes, so these bytes cannot occur in
// the event's own members: a receiver finds the record without decoding
// it as part of the event.
var recordMember = []byte(`,"` + recordField + `":`)

// splitRecord returns the event message data without its record, and the
// record (nil if none).
func splitRecord(data []byte) (event, record []byte) {
	i := bytes.Index(data, recordMember)
	if i < 0 || data[len(data)-1] != '}' {
		return data, nil
	}
	return append(data[:i:i], '}'), data[i+len(recordMember) : len(data)-1]
}

// subjects returns the subjects a subscription with filter f listens on.
func (b *Bus) subjects(f driver.EventFilter) []string {
	switch {
	case f.RunID != "":
		return []string{b.prefix + ".*." + token(f.RunID) + ".*"}
	case f.PipelineID != "":
		return []string{b.prefix + "." + token(f.PipelineID) + ".>"}
	}
	// Subscribers to run endings only (engines and workers watching for
	// cancellations) get those events alone; their order across runs does
	// not matter.
	ended := len(f.Types) > 0
	for _, t := range f.Types {
		ended = ended && t.RunEnded()
	}
	if !ended {
		return []string{b.prefix + ".>"}
	}
	var subs []string
	for _, t := range f.Types {
		subs = append(subs, b.prefix+".*.*."+token(string(t)))
	}
	return subs
}

// Subscribe implements driver.EventBus. The NATS subscription is in place
// on the server before opts.Initial reads the state, and live events wait
// until the initial ones are delivered: none is missed in between (one
// published just before may arrive too, after the snapshot that already
// reflects it).
func (b *Bus) Subscribe(ctx context.Context, f driver.EventFilter, opts driver.SubscribeOptions) (driver.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := opts.Buffer
	if n <= 0 {
		n = driver.DefaultEventBuffer
	}
	s := &busSub{bus: b, filter: f, types: typeSet(f.Types), ch: make(chan driver.Event, n)}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		s.closed = true
		close(s.ch)
		return s, nil
	}
	s.mu.Lock() // live events wait for the initial ones
	for _, subj := range b.subjects(f) {
		ns, err := b.nc.Subscribe(subj, s.onMsg)
		if err != nil {
			s.unsubscribeLocked()
			s.mu.Unlock()
			return nil, err
		}
		_ = ns.SetPendingLimits(-1, 64<<20)
		s.nsubs = append(s.nsubs, ns)
	}
	if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
		s.unsubscribeLocked()
		s.mu.Unlock()
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.endLocked()
		s.mu.Unlock()
		return s, nil
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	if opts.Initial != nil {
		evs, err := opts.Initial()
		if err != nil {
			s.endLocked()
			s.mu.Unlock()
			return nil, err
		}
		for _, ev := range evs {
			s.deliverLocked(ev)
			if f.RunID != "" && (ev.Type.RunEnded() || (ev.Run != nil && ev.Run.Status.Terminal())) {
				s.endLocked()
				break
			}
		}
	}
	if !s.closed {
		s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	}
	s.mu.Unlock()
	return s, nil
}

// Close ends every subscription and refuses new ones (they end at once).
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := make([]*busSub, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	return nil
}

// resync runs after a reconnect: events may have been lost meanwhile.
func (b *Bus) resync() {
	b.mu.Lock()
	subs := make([]*busSub, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if !s.closed {
			s.pending++ // the next event says events were lost
			s.dropped.Add(1)
		}
		s.mu.Unlock()
		if s.filter.RunID == "" || b.lookup == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := b.lookup(ctx, s.filter.RunID)
		cancel()
		if err != nil || !r.Status.Terminal() {
			continue
		}
		typ := driver.EventRunSucceeded
		switch r.Status {
		case driver.RunFailed:
			typ = driver.EventRunFailed
		case driver.RunCancelled:
			typ = driver.EventRunCancelled
		}
		s.mu.Lock()
		if !s.closed {
			s.deliverLocked(driver.Event{Type: typ, RunID: r.ID, PipelineID: r.PipelineID, Index: -1, Error: r.Error, Time: r.FinishedAt})
			s.endLocked()
		}
		s.mu.Unlock()
	}
}

func typeSet(ts []driver.EventType) map[driver.EventType]bool {
	if len(ts) == 0 {
		return nil
	}
	m := make(map[driver.EventType]bool, len(ts))
	for _, t := range ts {
		m[t] = true
	}
	return m
}

// busSub is one subscription.
type busSub struct {
	bus     *Bus
	filter  driver.EventFilter
	types   map[driver.EventType]bool // nil: every type
	ch      chan driver.Event
	dropped atomic.Uint64
	stop    func() bool

	mu      sync.Mutex
	nsubs   []*nats.Subscription
	closed  bool
	pending uint64 // events lost since the last delivered one
}

func (s *busSub) onMsg(m *nats.Msg) {
	data, rec := splitRecord(m.Data)
	var ev driver.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return
	}
	if ev.Type.RunEnded() && s.bus.finals != nil {
		s.bus.finals.arrived(ev.RunID, rec, time.Now()) // none: forget an earlier end's
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.filter.RunID != "" && ev.RunID != s.filter.RunID {
		return
	}
	s.deliverLocked(ev)
	if s.filter.RunID != "" && ev.Type.RunEnded() {
		s.endLocked()
	}
}

// deliverLocked offers ev to the channel without blocking.
func (s *busSub) deliverLocked(ev driver.Event) {
	if s.types != nil && !s.types[ev.Type] {
		return
	}
	ev.Dropped = s.pending
	select {
	case s.ch <- ev:
		s.pending = 0
	default:
		s.pending++
		s.dropped.Add(1)
	}
}

// endLocked closes the channel and drops the NATS subscriptions, once.
func (s *busSub) endLocked() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	s.unsubscribeLocked()
	b := s.bus
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

func (s *busSub) unsubscribeLocked() {
	for _, ns := range s.nsubs {
		if err := ns.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			s.bus.log.Debug("taskwire: unsubscribe events", "err", err)
		}
	}
	s.nsubs = nil
}

func (s *busSub) Events() <-chan driver.Event { return s.ch }
func (s *busSub) Dropped() uint64             { return s.dropped.Load() }

// Close implements driver.Subscription.
func (s *busSub) Close() error {
	s.mu.Lock()
	stop := s.stop
	s.endLocked()
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	return nil
}
