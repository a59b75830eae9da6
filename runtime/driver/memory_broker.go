// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxDeadLetters bounds the dead letters a MemoryBroker keeps.
const maxDeadLetters = 1000

// MemoryBroker is an in-process Broker: a FIFO queue with delayed
// redelivery through timers (no polling). Messages are not persisted. The
// zero value is not usable; call NewMemoryBroker.
type MemoryBroker struct {
	maxDeliver int

	mu      sync.Mutex
	queue   []*memDelivery
	head    int
	notify  chan struct{} // capacity 1: "the queue may be non-empty"
	done    chan struct{} // closed by Close
	closed  bool
	timers  map[*time.Timer]struct{}
	pending sync.WaitGroup // running timer callbacks
	dead    []DeadLetter
	deadSeq []uint64 // recording order of dead, for list cursors
	seq     uint64
}

// BrokerOption configures a MemoryBroker.
type BrokerOption func(*MemoryBroker)

// WithMaxDeliver dead-letters a message instead of redelivering it once it
// has been delivered n times; zero (the default) means no limit.
func WithMaxDeliver(n int) BrokerOption { return func(b *MemoryBroker) { b.maxDeliver = n } }

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker(opts ...BrokerOption) *MemoryBroker {
	b := &MemoryBroker{
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		timers: make(map[*time.Timer]struct{}),
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

type memDelivery struct {
	b        *MemoryBroker
	msg      TaskMessage
	attempt  int
	enqueued time.Time
}

// Enqueue implements Broker.
func (b *MemoryBroker) Enqueue(ctx context.Context, msg TaskMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.push(&memDelivery{b: b, msg: msg, attempt: 1, enqueued: time.Now()})
}

func (b *MemoryBroker) push(d *memDelivery) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBrokerClosed
	}
	b.queue = append(b.queue, d)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return nil
}

// Receive implements Broker.
func (b *MemoryBroker) Receive(ctx context.Context) (Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrBrokerClosed
		}
		if b.head < len(b.queue) {
			d := b.queue[b.head]
			b.queue[b.head] = nil
			b.head++
			more := b.head < len(b.queue)
			if !more {
				b.queue, b.head = b.queue[:0], 0
			} else if b.head > 1024 && b.head > len(b.queue)/2 {
				b.queue, b.head = append(b.queue[:0], b.queue[b.head:]...), 0
			}
			b.mu.Unlock()
			if more { // pass the wake-up on to another waiting receiver
				select {
				case b.notify <- struct{}{}:
				default:
				}
			}
			d.attempt = max(d.attempt, 1)
			return d, nil
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-b.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements Broker. Pending delayed redeliveries are dropped.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
	b.queue, b.head = nil, 0
	b.mu.Unlock()
	b.pending.Wait()
	return nil
}

// Len returns the number of messages waiting for delivery, delayed
// redeliveries excluded.
func (b *MemoryBroker) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) - b.head
}

// DeadLetters returns the most recent messages terminated with Term or
// dropped after WithMaxDeliver deliveries, oldest first.
func (b *MemoryBroker) DeadLetters() []DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.dead...)
}

func (b *MemoryBroker) deadLetter(d *memDelivery, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dl := NewDeadLetter(d.msg, d.attempt, reason, false, time.Now())
	b.removeDeadLocked(dl.ID) // a later dead letter of an execution replaces the earlier
	if len(b.dead) == maxDeadLetters {
		b.dead, b.deadSeq = append(b.dead[:0], b.dead[1:]...), append(b.deadSeq[:0], b.deadSeq[1:]...)
	}
	b.seq++
	b.dead, b.deadSeq = append(b.dead, dl), append(b.deadSeq, b.seq)
}

func (b *MemoryBroker) removeDeadLocked(id string) {
	for i := range b.dead {
		if b.dead[i].ID == id {
			b.dead, b.deadSeq = append(b.dead[:i], b.dead[i+1:]...), append(b.deadSeq[:i], b.deadSeq[i+1:]...)
			return
		}
	}
}

var _ DeadLetterStore = (*MemoryBroker)(nil)

// ListDeadLetters implements DeadLetterStore.
func (b *MemoryBroker) ListDeadLetters(ctx context.Context, opts DeadLetterListOptions) (DeadLetterPage, error) {
	if err := ctx.Err(); err != nil {
		return DeadLetterPage{}, err
	}
	b.mu.Lock()
	n := len(b.dead)
	dls, seqs := make([]DeadLetter, n), make([]uint64, n)
	for i := range n { // newest first
		dls[i], seqs[i] = b.dead[n-1-i], b.deadSeq[n-1-i]
	}
	b.mu.Unlock()
	return opts.Page("m", dls, seqs)
}

// GetDeadLetter implements DeadLetterStore.
func (b *MemoryBroker) GetDeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return DeadLetter{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, dl := range b.dead {
		if dl.ID == id {
			return dl, nil
		}
	}
	return DeadLetter{}, fmt.Errorf("%w: %q", ErrDeadLetterNotFound, id)
}

// DeleteDeadLetter implements DeadLetterStore.
func (b *MemoryBroker) DeleteDeadLetter(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeDeadLocked(id)
	return nil
}

func (d *memDelivery) Message() TaskMessage { return d.msg }
func (d *memDelivery) Attempt() int         { return d.attempt }
func (d *memDelivery) Enqueued() time.Time  { return d.enqueued }
func (d *memDelivery) Last() bool           { return d.b.maxDeliver > 0 && d.attempt >= d.b.maxDeliver }
func (d *memDelivery) Ack() error           { return nil }
func (d *memDelivery) InProgress() error    { return nil }

func (d *memDelivery) Term(reason string) error {
	d.b.deadLetter(d, reason)
	return nil
}

func (d *memDelivery) Nak(delay time.Duration) error {
	b := d.b
	if b.maxDeliver > 0 && d.attempt >= b.maxDeliver {
		b.deadLetter(d, fmt.Sprintf("delivered %d times (max deliver)", d.attempt))
		return nil
	}
	next := &memDelivery{b: b, msg: d.msg, attempt: d.attempt + 1, enqueued: d.enqueued}
	if delay <= 0 {
		return b.push(next)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		delete(b.timers, t)
		b.pending.Add(1)
		b.mu.Unlock()
		defer b.pending.Done()
		_ = b.push(next) // fails only when closed meanwhile: the message is dropped with the broker
	})
	b.timers[t] = struct{}{}
	return nil
}
