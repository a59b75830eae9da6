// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"sync"
	"sync/atomic"
)

// MemoryBus is an in-process EventBus. The zero value is not usable; call
// NewMemoryBus.
type MemoryBus struct {
	count atomic.Int64 // registered subscriptions: lets Publish skip locking

	mu         sync.RWMutex
	closed     bool
	byRun      map[string][]*memSub
	byPipeline map[string][]*memSub
	all        []*memSub
}

// NewMemoryBus returns a MemoryBus without subscribers.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{byRun: make(map[string][]*memSub), byPipeline: make(map[string][]*memSub)}
}

type memSub struct {
	bus     *MemoryBus
	filter  EventFilter
	mask    uint16
	ch      chan Event
	dropped atomic.Uint64
	stop    func() bool // stops the ctx watcher

	mu      sync.Mutex // guards ch sends against close, and pending
	closed  bool
	pending uint64 // events lost since the last delivered one
}

// Publish implements EventBus. It never blocks.
func (b *MemoryBus) Publish(_ context.Context, ev Event) error {
	if b.count.Load() == 0 {
		return nil
	}
	b.mu.RLock()
	// Run subscribers last: a Wait that returns on the terminal event then
	// knows every other subscriber has been offered it.
	for _, s := range b.all {
		s.deliver(ev)
	}
	for _, s := range b.byPipeline[ev.PipelineID] {
		s.deliver(ev)
	}
	for _, s := range b.byRun[ev.RunID] {
		s.deliver(ev)
	}
	ended := ev.Type.RunEnded() && len(b.byRun[ev.RunID]) > 0
	b.mu.RUnlock()
	if ended {
		b.mu.Lock()
		subs := b.byRun[ev.RunID]
		delete(b.byRun, ev.RunID)
		b.count.Add(-int64(len(subs)))
		b.mu.Unlock()
		for _, s := range subs {
			s.end()
		}
	}
	return nil
}

// Subscribe implements EventBus.
func (b *MemoryBus) Subscribe(ctx context.Context, f EventFilter, opts SubscribeOptions) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := opts.Buffer
	if n <= 0 {
		n = DefaultEventBuffer
	}
	s := &memSub{bus: b, filter: f, mask: f.mask(), ch: make(chan Event, n)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.end()
		return s, nil
	}
	// Taking the initial events under the lock means no event published
	// after them can be missed, and none published before them is lost:
	// its effect is part of the initial state.
	if opts.Initial != nil {
		evs, err := opts.Initial()
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		ended := false
		for _, ev := range evs {
			s.deliver(ev)
			ended = ended || (f.RunID != "" && (ev.Type.RunEnded() || (ev.Run != nil && ev.Run.Status.Terminal())))
		}
		if ended {
			b.mu.Unlock()
			s.end()
			return s, nil
		}
	}
	switch {
	case f.RunID != "":
		b.byRun[f.RunID] = append(b.byRun[f.RunID], s)
	case f.PipelineID != "":
		b.byPipeline[f.PipelineID] = append(b.byPipeline[f.PipelineID], s)
	default:
		b.all = append(b.all, s)
	}
	b.count.Add(1)
	b.mu.Unlock()
	s.stop = context.AfterFunc(ctx, s.unregister)
	return s, nil
}

// Close ends every subscription and refuses new ones (they end at once).
func (b *MemoryBus) Close() error {
	b.mu.Lock()
	b.closed = true
	var subs []*memSub
	for _, l := range b.byRun {
		subs = append(subs, l...)
	}
	for _, l := range b.byPipeline {
		subs = append(subs, l...)
	}
	subs = append(subs, b.all...)
	clear(b.byRun)
	clear(b.byPipeline)
	b.all = nil
	b.count.Store(0)
	b.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
	return nil
}

func (s *memSub) deliver(ev Event) {
	if s.mask&ev.Type.bit() == 0 {
		return
	}
	if s.filter.PipelineID != "" && s.filter.RunID == "" && ev.PipelineID != s.filter.PipelineID {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
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

// end closes the channel once.
func (s *memSub) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

func (s *memSub) Events() <-chan Event { return s.ch }
func (s *memSub) Dropped() uint64      { return s.dropped.Load() }

// Close implements Subscription.
func (s *memSub) Close() error {
	if s.stop != nil {
		s.stop()
	}
	s.unregister()
	return nil
}

// unregister removes s from the bus and closes its channel.
func (s *memSub) unregister() {
	b := s.bus
	b.mu.Lock()
	removed := false
	remove := func(l []*memSub) []*memSub {
		for i, x := range l {
			if x == s {
				removed = true
				return append(l[:i:i], l[i+1:]...)
			}
		}
		return l
	}
	switch {
	case s.filter.RunID != "":
		if l := remove(b.byRun[s.filter.RunID]); len(l) > 0 {
			b.byRun[s.filter.RunID] = l
		} else {
			delete(b.byRun, s.filter.RunID)
		}
	case s.filter.PipelineID != "":
		if l := remove(b.byPipeline[s.filter.PipelineID]); len(l) > 0 {
			b.byPipeline[s.filter.PipelineID] = l
		} else {
			delete(b.byPipeline, s.filter.PipelineID)
		}
	default:
		b.all = remove(b.all)
	}
	if removed {
		b.count.Add(-1)
	}
	b.mu.Unlock()
	s.end()
}
