// SPDX-License-Identifier: Apache-2.0

// Package testutil holds helpers shared by the tests: a context that
// bounds a test, a settable clock and a buffer for logs and process output.
package testutil

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// Context returns a context bounding a test so that a bug hangs no test
// forever; it is a safety net, never an assertion on speed.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at 2026-01-01 00:00 UTC.
func NewClock() *Clock { return NewClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

// NewClockAt returns a Clock at t.
func NewClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Buffer collects what a logger or a process writes, safe for their
// goroutines' writes and the test's reads at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns the lines written so far (without their newlines) that
// hold every one of parts; with no parts, every line.
func (b *Buffer) Lines(parts ...string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		line = strings.TrimSuffix(line, "\n")
		keep := true
		for _, p := range parts {
			keep = keep && strings.Contains(line, p)
		}
		if keep {
			out = append(out, line)
		}
	}
	return out
}
