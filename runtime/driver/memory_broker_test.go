// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"errors"
	"strconv"
	"strings"
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
	// A later dead letter of the same execution replaces the earlier, as
	// one key per execution does in JetStream.
	if dl := b.DeadLetters(); len(dl) != 1 || dl[0].Reason != "bad" || dl[0].ID != DeadLetterID("r", "t", -1) {
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

func TestMemoryBrokerDeadLetterStore(t *testing.T) {
	b := NewMemoryBroker()
	defer b.Close()
	ctx := context.Background()
	for i, p := range []string{"p", "q", "p"} {
		_ = b.Enqueue(ctx, TaskMessage{RunID: "r" + strconv.Itoa(i), PipelineID: p, Task: "t", Index: -1})
		d, _ := b.Receive(ctx)
		_ = d.Term("bad " + strconv.Itoa(i))
	}
	var got []string
	opts := DeadLetterListOptions{Limit: 1}
	for {
		page, err := b.ListDeadLetters(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page.DeadLetters {
			got = append(got, dl.RunID)
		}
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	if strings.Join(got, ",") != "r2,r1,r0" {
		t.Fatalf("walk = %v, want newest first", got)
	}
	page, err := b.ListDeadLetters(ctx, DeadLetterListOptions{PipelineID: "p", Allow: func(p string) bool { return p != "q" }})
	if err != nil || len(page.DeadLetters) != 2 || page.DeadLetters[0].RunID != "r2" {
		t.Fatalf("pipeline p: %+v %v", page, err)
	}
	if _, err := b.ListDeadLetters(ctx, DeadLetterListOptions{Cursor: EncodeCursor("c", 1)}); !errors.Is(err, ErrInvalidCursor) {
		t.Fatalf("a run cursor: %v", err)
	}
	id := DeadLetterID("r1", "t", -1)
	if dl, err := b.GetDeadLetter(ctx, id); err != nil || dl.Reason != "bad 1" {
		t.Fatalf("get: %+v %v", dl, err)
	}
	if err := b.DeleteDeadLetter(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetDeadLetter(ctx, id); !errors.Is(err, ErrDeadLetterNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestDeadLetterIDRoundTrip(t *testing.T) {
	for _, c := range []struct {
		run, task string
		index     int
	}{{"R1", "t", -1}, {"a/b", "task_x", 12}} {
		run, task, index, err := ParseDeadLetterID(DeadLetterID(c.run, c.task, c.index))
		if err != nil || run != c.run || task != c.task || index != c.index {
			t.Fatalf("%+v: %q %q %d %v", c, run, task, index, err)
		}
	}
	for _, bad := range []string{"", "!!", "eA", DeadLetterID("r", "t", -1)[:3]} {
		if _, _, _, err := ParseDeadLetterID(bad); !errors.Is(err, ErrDeadLetterNotFound) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
