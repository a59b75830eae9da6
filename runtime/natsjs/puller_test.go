// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// pullerBackend connects a backend to a fresh server and fills its task
// stream with n messages.
func pullerBackend(t *testing.T, n int) (*Backend, jetstream.Consumer) {
	t.Helper()
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	opts := testOptions()
	opts.AckWait = time.Minute // a held message would stay held for the test
	be, err := Connect(ctx, s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	for i := range n {
		m := driver.TaskMessage{RunID: "R" + itoa(i), PipelineID: "p", Task: "t", Index: -1}
		if err := be.Broker().Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := be.js.Consumer(ctx, be.names.tasksStream, be.names.consumer)
	if err != nil {
		t.Fatal(err)
	}
	return be, cons
}

// ackPending is the number of messages delivered and not yet settled.
func ackPending(t *testing.T, cons jetstream.Consumer) int {
	t.Helper()
	info, err := cons.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending
}

// A broker asks for as many messages as callers wait in Receive: with
// three callers and fifty messages queued it holds three, and the rest
// stay for other workers; every one comes once, as they are settled.
func TestReceiveHoldsOnlyWhatCallersWaitFor(t *testing.T) {
	const total = 50
	be, cons := pullerBackend(t, total)
	ctx := testCtx(t, 30*time.Second)
	br := be.Broker()
	ds := make(chan driver.Delivery, 3)
	for range 3 {
		go func() {
			d, err := br.Receive(ctx)
			if err != nil {
				t.Error(err)
			}
			ds <- d
		}()
	}
	var held []driver.Delivery
	for range 3 {
		held = append(held, <-ds)
	}
	time.Sleep(200 * time.Millisecond) // a request for more would have been answered
	if n := ackPending(t, cons); n != 3 {
		t.Fatalf("%d messages delivered to three callers, want 3", n)
	}
	seen := map[string]bool{}
	for _, d := range held {
		seen[d.Message().RunID] = true
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	for len(seen) < total {
		d, err := br.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id := d.Message().RunID; seen[id] {
			t.Fatalf("%s delivered twice", id)
		} else {
			seen[id] = true
		}
		if d.Attempt() != 1 {
			t.Fatalf("attempt %d, want 1", d.Attempt())
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	waitAckPending(t, cons, "after all were acknowledged")
}

// waitAckPending waits for the consumer to have no message delivered and
// unsettled (acknowledgements are processed asynchronously).
func waitAckPending(t *testing.T, cons jetstream.Consumer, when string) {
	t.Helper()
	if !waitUntil(10*time.Second, func() bool { return ackPending(t, cons) == 0 }) {
		t.Fatalf("%d messages still pending %s", ackPending(t, cons), when)
	}
}

// Many callers at once share requests and each gets its own message; a
// caller that gives up leaves nothing held: what its request brings goes
// to the next caller, or back to the stream when the broker closes.
func TestReceiveManyCallersAndOneThatGivesUp(t *testing.T) {
	const total = 200
	be, cons := pullerBackend(t, total)
	ctx := testCtx(t, 30*time.Second)
	br := be.Broker()
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if n >= total-1 {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				d, err := br.Receive(rctx)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[d.Message().RunID]++
				mu.Unlock()
				if err := d.Ack(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
	// The last message, taken by nobody here: a caller asks and gives up
	// at once, and the broker closes with the message perhaps on its way.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = br.Receive(gone)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	d, err := br.Receive(short)
	cancel()
	if err == nil {
		_ = d.Nak(0)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	waitAckPending(t, cons, "held by a closed broker")
	if _, err := br.Receive(ctx); !errors.Is(err, driver.ErrBrokerClosed) {
		t.Fatalf("Receive after Close: %v, want ErrBrokerClosed", err)
	}
}

// A pull request the server forgets (it restarted) is replaced once its
// expiry has passed: callers waiting then still get the messages
// published after the restart.
func TestReceiveAfterServerRestart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	s := runServer(t, opts)
	ctx := testCtx(t, 60*time.Second)
	o := testOptions()
	o.NATSOptions = []nats.Option{nats.ReconnectWait(50 * time.Millisecond)}
	be, err := Connect(ctx, s.ClientURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	got := make(chan driver.Delivery, 1)
	go func() {
		d, err := be.Broker().Receive(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	time.Sleep(300 * time.Millisecond) // its pull request is at the server
	o2 := *opts
	o2.Port = s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()
	runServer(t, &o2)
	m := driver.TaskMessage{RunID: "after-restart", PipelineID: "p", Task: "t", Index: -1}
	for {
		if err := be.Broker().Enqueue(ctx, m); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case d := <-got:
		if d == nil || d.Message().RunID != m.RunID {
			t.Fatalf("got %v", d)
		}
		_ = d.Ack()
	case <-time.After(pollWait + pullGrace + 5*time.Second):
		t.Fatal("the waiting caller got nothing after the restart")
	}
}
