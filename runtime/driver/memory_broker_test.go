// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryBrokerAckNakTerm(t *testing.T) {
	b := NewMemoryBroker(WithMaxDeliver(3))
	defer b.Close()
	ctx := testCtx(t)
	msg := TaskMessage{RunID: "r", PipelineID: "p", Task: "t", Index: -1}
	if msg.ID() != "r/t/-1" {
		t.Fatal(msg.ID())
	}
	if err := b.Enqueue(ctx, msg); err != nil {
		t.Fatal(err)
	}
	d, err := b.Receive(ctx)
	if err != nil || d.Message() != msg || d.Attempt() != 1 {
		t.Fatal(d, err)
	}
	// Delayed redelivery arrives through a timer, with the attempt counted.
	if err := d.Nak(5 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatal("redelivered before the delay")
	}
	d, err = b.Receive(ctx)
	if err != nil || d.Attempt() != 2 {
		t.Fatal(d, err)
	}
	_ = d.Nak(0)
	d, _ = b.Receive(ctx)
	if d.Attempt() != 3 || d.InProgress() != nil {
		t.Fatal(d.Attempt())
	}
	_ = d.Nak(0) // max deliver reached: dead-lettered
	if dl := b.DeadLetters(); len(dl) != 1 || dl[0].Deliveries != 3 {
		t.Fatalf("dead letters %+v", dl)
	}
	_ = b.Enqueue(ctx, msg)
	d, _ = b.Receive(ctx)
	_ = d.Term("bad")
	if dl := b.DeadLetters(); len(dl) != 2 || dl[1].Reason != "bad" {
		t.Fatalf("dead letters %+v", dl)
	}
	_ = d.Ack()
}

func TestMemoryBrokerCloseAndCancel(t *testing.T) {
	b := NewMemoryBroker()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	_ = b.Enqueue(context.Background(), TaskMessage{RunID: "r"})
	d, _ := b.Receive(context.Background())
	_ = d.Nak(time.Hour) // pending timer, stopped by Close
	got := make(chan error)
	go func() {
		_, err := b.Receive(context.Background())
		got <- err
	}()
	_ = b.Close()
	if err := <-got; !errors.Is(err, ErrBrokerClosed) {
		t.Fatal(err)
	}
	if err := b.Enqueue(context.Background(), TaskMessage{}); !errors.Is(err, ErrBrokerClosed) {
		t.Fatal(err)
	}
	_ = b.Close()
}
