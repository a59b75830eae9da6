// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/taskwire/taskwire/runtime"
)

// Limits of event streams.
const (
	// StreamHeartbeat is how often an idle stream sends a comment line, so
	// that proxies keep it open and dead clients are noticed.
	StreamHeartbeat = 15 * time.Second
	// MaxStreamLifetime ends a stream after this long; clients reconnect.
	MaxStreamLifetime = 30 * time.Minute
	// MaxStreamsPerPrincipal caps the concurrent streams of one principal.
	MaxStreamsPerPrincipal = 8
	// streamWriteTimeout bounds one write to a stream's client.
	streamWriteTimeout = 10 * time.Second
)

// streamCounter counts open streams per principal.
type streamCounter struct {
	mu   sync.Mutex
	open map[string]int
}

func (c *streamCounter) acquire(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[string]int{}
	}
	if c.open[id] >= MaxStreamsPerPrincipal {
		return false
	}
	c.open[id]++
	return true
}

func (c *streamCounter) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[id]--; c.open[id] <= 0 {
		delete(c.open, id)
	}
}

// runEvents streams a run's events as Server-Sent Events: a snapshot of the
// run first, then each lifecycle event, ending after the run ends.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	run, ok := s.readableRun(w, r)
	if !ok {
		return
	}
	p := s.principal(r)
	key := s.streamKey(r, p)
	if !s.streams.acquire(key) {
		w.Header().Set("Retry-After", "30")
		writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("at most %d event streams may be open at once", MaxStreamsPerPrincipal))
		return
	}
	defer s.streams.release(key)

	ctx, cancel := context.WithTimeout(r.Context(), MaxStreamLifetime)
	defer cancel()
	sub, err := s.engine.Subscribe(ctx, runtime.EventFilter{RunID: run.ID}, 0)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	if info := infoFrom(r); info != nil {
		info.Status = http.StatusOK
	}
	w.WriteHeader(http.StatusOK)
	write := func(chunk string) bool {
		// The server's WriteTimeout would cut a long stream: each write gets its own deadline.
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprint(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": stream of run " + run.ID + "\n\n") {
		return
	}
	heartbeat := time.NewTicker(StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case ev, open := <-sub.Events():
			if !open {
				return
			}
			var data any = publicEvent(ev)
			if ev.Type == runtime.EventSnapshot && ev.Run != nil {
				data = viewRun(ev.Run)
			}
			b, err := json.Marshal(data)
			if err != nil {
				return
			}
			if !write(fmt.Sprintf("event: %s\ndata: %s\n\n", ev.Type, b)) {
				return
			}
		case <-heartbeat.C:
			if !write(": heartbeat\n\n") {
				return
			}
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

// streamKey is whose streams count together: a principal, or a client
// address when security is disabled.
func (s *Server) streamKey(r *http.Request, p *Principal) string {
	if p.ID == "" {
		return "ip:" + s.clientIP(r).String()
	}
	return p.Method + ":" + p.ID
}

// publicEvent is ev as clients see it: a task's own error text replaced
// by the stable message naming its error id, as in run views.
func publicEvent(ev runtime.Event) runtime.Event {
	ev.Error, ev.ErrorID = ev.PublicError(), ""
	return ev
}
