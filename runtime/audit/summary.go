// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"
)

// TypeAnonymousSummary is the record that stands for the anonymous requests
// of one client address (or of every address past the Summarizer's cap) in
// one window: requests that presented no credential the server verified.
// Its ClientIP is the address ("" for the overflow), its Time the window's
// end, and its Details hold "window_start", "window_end", "requests" (how
// many requests it counts), "by_status" (status code -> count), "by_route"
// (operation id -> count) and, for the overflow, "other_addresses": true.
const TypeAnonymousSummary = "anonymous_summary"

// OutcomeSummary is the outcome of a TypeAnonymousSummary record.
const OutcomeSummary = "summary"

// Defaults of SummaryOptions.
const (
	// DefaultSummaryWindow is how long a window of anonymous requests
	// lasts before its summaries are written.
	DefaultSummaryWindow = 10 * time.Second
	// DefaultSummaryAddresses caps the client addresses a window tracks;
	// requests from further addresses go into one overflow summary.
	DefaultSummaryAddresses = 256
)

// SummaryOptions configure a Summarizer.
type SummaryOptions struct {
	// Window is the length of a window (DefaultSummaryWindow by
	// default). Windows are aligned to multiples of Window since the Unix
	// epoch.
	Window time.Duration
	// MaxAddresses caps the addresses a window tracks
	// (DefaultSummaryAddresses by default).
	MaxAddresses int
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// After starts the wait before the next check for a closed window
	// (time.After by default); tests pass a channel they fire themselves.
	After func(time.Duration) <-chan time.Time
}

// Summarizer turns a flood of anonymous requests into a bounded number of
// records: per window, at most one full record and one summary per tracked
// address, and one summary for the addresses past the cap. The first
// request of an address in a window is written in full (Note reports it),
// so that an isolated request keeps its own record; the rest are counted,
// and the counts are written as TypeAnonymousSummary records, chained like
// any other, when the window closes (checked every Window, and at the next
// Note) and at Close. It is safe for concurrent use.
type Summarizer struct {
	log  *Logger
	opts SummaryOptions

	writeMu sync.Mutex // held while a window's summaries are written, in order

	mu     sync.Mutex // guards the fields below
	start  time.Time  // of the current window; zero before the first request
	seen   map[string]*tally
	other  *tally // requests from addresses past the cap
	closed bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// tally counts one address's requests of a window.
type tally struct {
	requests int
	byStatus map[int]int
	byRoute  map[string]int
}

func (t *tally) add(route string, status int) {
	if t.byStatus == nil {
		t.byStatus, t.byRoute = map[int]int{}, map[string]int{}
	}
	t.requests++
	t.byStatus[status]++
	t.byRoute[route]++
}

// NewSummarizer returns a Summarizer writing to l and starts its check for
// closed windows; Close stops it. It does not close l.
func NewSummarizer(l *Logger, opts SummaryOptions) *Summarizer {
	if opts.Window <= 0 {
		opts.Window = DefaultSummaryWindow
	}
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = DefaultSummaryAddresses
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	s := &Summarizer{log: l, opts: opts, seen: map[string]*tally{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// Window returns the length of the Summarizer's windows.
func (s *Summarizer) Window() time.Duration { return s.opts.Window }

func (s *Summarizer) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.opts.After(s.opts.Window):
			_ = s.flush(false, false) // a write error is the log's: its next Log fails too
		case <-s.stop:
			return
		}
	}
}

// Note tells the Summarizer about an anonymous request from addr to route
// answered with status, and reports whether the caller should write the
// request's own record: true for the first request of a tracked address in
// a window (and after Close), false when the request is counted in a
// summary. Summaries of a window that has closed are written first.
func (s *Summarizer) Note(addr, route string, status int) (writeInFull bool) {
	return s.note(addr, route, status, true)
}

// Count is Note for a request that must not get a record of its own (one
// shed because the disk is low): it is always counted.
func (s *Summarizer) Count(addr, route string, status int) {
	s.note(addr, route, status, false)
}

func (s *Summarizer) note(addr, route string, status int, full bool) bool {
	now := s.opts.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return full
	}
	due := !s.start.IsZero() && !now.Before(s.start.Add(s.opts.Window))
	if due {
		s.mu.Unlock()
		_ = s.flush(false, false)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return full
		}
	}
	if s.start.IsZero() {
		s.start = now.Truncate(s.opts.Window)
	}
	t, ok := s.seen[addr]
	switch {
	case !ok && len(s.seen) < s.opts.MaxAddresses:
		t = &tally{}
		s.seen[addr] = t
		if full {
			s.mu.Unlock()
			return true
		}
	case !ok:
		if s.other == nil {
			s.other = &tally{}
		}
		t = s.other
	}
	t.add(route, status)
	s.mu.Unlock()
	return false
}

// Flush writes the summaries of the current window now, whether or not it
// has closed, and starts a new window.
func (s *Summarizer) Flush() error { return s.flush(true, false) }

// flush writes the summaries of the current window, when it has closed or
// when force is set; with closing, the Summarizer counts nothing after.
func (s *Summarizer) flush(force, closing bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.opts.Now()
	s.mu.Lock()
	if closing {
		s.closed = true
	}
	if s.start.IsZero() || (!force && now.Before(s.start.Add(s.opts.Window))) {
		s.mu.Unlock()
		return nil
	}
	start, seen, other := s.start, s.seen, s.other
	end := start.Add(s.opts.Window)
	if force && now.Before(end) {
		end = now // the window is cut short
	}
	s.start, s.seen, s.other = time.Time{}, map[string]*tally{}, nil
	s.mu.Unlock()

	addrs := make([]string, 0, len(seen))
	for a, t := range seen {
		if t.requests > 0 {
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	var errs []error
	for _, a := range addrs {
		errs = append(errs, s.log.Log(summaryRecord(a, seen[a], start, end, false)))
	}
	if other != nil {
		errs = append(errs, s.log.Log(summaryRecord("", other, start, end, true)))
	}
	return errors.Join(errs...)
}

// Close writes the summaries of the current window and stops the check for
// closed windows; later Notes report true (their records are written, or
// refused, by the log itself).
func (s *Summarizer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return s.flush(true, true)
}

func summaryRecord(addr string, t *tally, start, end time.Time, other bool) Record {
	byStatus := make(map[string]any, len(t.byStatus))
	for code, n := range t.byStatus {
		byStatus[strconv.Itoa(code)] = n
	}
	byRoute := make(map[string]any, len(t.byRoute))
	for r, n := range t.byRoute {
		byRoute[r] = n
	}
	d := map[string]any{
		"window_start": start.UTC().Format(time.RFC3339Nano),
		"window_end":   end.UTC().Format(time.RFC3339Nano),
		"requests":     t.requests,
		"by_status":    byStatus,
		"by_route":     byRoute,
	}
	if other {
		d["other_addresses"] = true
	}
	return Record{Type: TypeAnonymousSummary, Time: end.UTC(), ClientIP: addr, Outcome: OutcomeSummary, Details: d}
}
