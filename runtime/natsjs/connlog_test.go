// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// logBuffer is a log destination safe for the connection's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// line returns the first line of the log holding every one of parts, or "".
func (l *logBuffer) line(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ln := range strings.Lines(l.b.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(ln, p)
		}
		if ok {
			return ln
		}
	}
	return ""
}

// waitLine waits up to d for a line of the log holding every one of parts.
func (l *logBuffer) waitLine(t *testing.T, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ln := l.line(parts...); ln != "" {
			return ln
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log line with %q within %s; the log:\n%s", parts, d, l.b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The connection Connect makes reports what reaches no caller: messages
// dropped for a subscriber too slow for them, and the server lost and found
// again, are lines of the backend's log.
func TestConnectLogsConnectionEvents(t *testing.T) {
	s := startServer(t)
	var log logBuffer
	opts := Options{Prefix: "connlog", MemoryStorage: true, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	b, err := Connect(testCtx(t, 30*time.Second), s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	nc := b.Conn()

	block := make(chan struct{})
	sub, err := nc.Subscribe("connlog.slow", func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := nc.Publish("connlog.slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ln := log.waitLine(t, 10*time.Second, "taskwire: nats asynchronous error")
	close(block)
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
	log.waitLine(t, 10*time.Second, "level=WARN", "taskwire: disconnected from nats", "err=")
	ln = log.waitLine(t, 10*time.Second, "level=INFO", "taskwire: reconnected to nats")
	if !strings.Contains(ln, "server="+s.ClientURL()) {
		t.Errorf("the reconnection's line %q does not name the server %s", ln, s.ClientURL())
	}
}

// A handler given in Options.NATSOptions replaces the one that logs.
func TestConnectNATSOptionsReplaceLogging(t *testing.T) {
	s := startServer(t)
	var log logBuffer
	got := make(chan error, 16)
	opts := Options{Prefix: "connown", MemoryStorage: true, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		NATSOptions: []nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case got <- err:
			default:
			}
		})}}
	b, err := Connect(testCtx(t, 30*time.Second), s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	nc := b.Conn()
	block := make(chan struct{})
	defer close(block)
	sub, err := nc.Subscribe("connown.slow", func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		_ = nc.Publish("connown.slow", []byte("x"))
	}
	_ = nc.Flush()
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "slow consumer") {
			t.Errorf("the user's handler got %v, want a slow consumer error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the user's error handler was not called")
	}
	if ln := log.line("asynchronous error"); ln != "" {
		t.Errorf("the backend logged %q although the user's handler replaces its own", ln)
	}
}
