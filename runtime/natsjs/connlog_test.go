// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/taskwire/taskwire/internal/testutil"
)

// waitLine waits up to d for a line of log holding every one of parts.
func waitLine(t *testing.T, log *testutil.Buffer, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if lines := log.Lines(parts...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %s; the log:\n%s", parts, d, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectLogged connects a Backend (memory storage, the prefix given) to
// s, its log into a buffer, with the NATS options given.
func connectLogged(t *testing.T, s *server.Server, prefix string, nopts ...nats.Option) (*Backend, *testutil.Buffer) {
	t.Helper()
	log := &testutil.Buffer{}
	opts := Options{Prefix: prefix, MemoryStorage: true, Logger: slog.New(slog.NewTextHandler(log, nil)), NATSOptions: nopts}
	b, err := Connect(testCtx(t, 30*time.Second), s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, log
}

// slowSubscriber subscribes to subject on nc with room for one pending
// message and a handler blocked until the test ends, and publishes ten
// messages to it: the client drops the rest and reports a slow consumer.
func slowSubscriber(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	sub, err := nc.Subscribe(subject, func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := nc.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// The connection Connect makes reports what reaches no caller: messages
// dropped for a subscriber too slow for them, and the server lost and found
// again, are lines of the backend's log.
func TestConnectLogsConnectionEvents(t *testing.T) {
	s := startServer(t)
	b, log := connectLogged(t, s, "connlog")
	nc := b.Conn()

	slowSubscriber(t, nc, "connlog.slow")
	ln := waitLine(t, log, 10*time.Second, "taskwire: nats asynchronous error")
	for _, want := range []string{"level=ERROR", "subject=connlog.slow", "slow consumer"} {
		if !strings.Contains(ln, want) {
			t.Errorf("the slow consumer's line %q lacks %q", ln, want)
		}
	}

	cid, err := nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	waitLine(t, log, 10*time.Second, "level=WARN", "taskwire: disconnected from nats", "err=")
	ln = waitLine(t, log, 10*time.Second, "level=INFO", "taskwire: reconnected to nats")
	if !strings.Contains(ln, "server="+s.ClientURL()) {
		t.Errorf("the reconnection's line %q does not name the server %s", ln, s.ClientURL())
	}
}

// A handler given in Options.NATSOptions replaces the one that logs.
func TestConnectNATSOptionsReplaceLogging(t *testing.T) {
	got := make(chan error, 16)
	b, log := connectLogged(t, startServer(t), "connown", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case got <- err:
		default:
		}
	}))
	nc := b.Conn()
	slowSubscriber(t, nc, "connown.slow")
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "slow consumer") {
			t.Errorf("the user's handler got %v, want a slow consumer error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the user's error handler was not called")
	}
	if lines := log.Lines("asynchronous error"); len(lines) > 0 {
		t.Errorf("the backend logged %q although the user's handler replaces its own", lines[0])
	}
}
