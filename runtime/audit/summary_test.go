// SPDX-License-Identifier: Apache-2.0

package audit_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime/audit"
)

// summaryLog is a log and a summarizer on a fake clock, with a check for
// closed windows the test fires itself.
type summaryLog struct {
	file  string
	log   *audit.Logger
	sum   *audit.Summarizer
	clock *testutil.Clock
	tick  chan time.Time
}

func newSummaryLog(t *testing.T, maxAddrs int) *summaryLog {
	t.Helper()
	s := &summaryLog{file: filepath.Join(t.TempDir(), "audit.jsonl"), clock: testutil.NewClock(), tick: make(chan time.Time)}
	l, err := audit.Open(s.file, audit.Options{Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.log = l
	s.sum = audit.NewSummarizer(l, audit.SummaryOptions{Window: 10 * time.Second, MaxAddresses: maxAddrs, Now: s.clock.Now,
		After: func(time.Duration) <-chan time.Time { return s.tick }})
	t.Cleanup(func() {
		s.sum.Close()
		l.Close()
	})
	return s
}

func (s *summaryLog) records(t *testing.T) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(s.file)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// count returns a summary's count of key under section ("" for requests).
func count(r audit.Record, section, key string) int {
	if section == "" {
		n, _ := r.Details["requests"].(float64)
		return int(n)
	}
	m, _ := r.Details[section].(map[string]any)
	n, _ := m[key].(float64)
	return int(n)
}

// The first request of an address in a window is written in full, the
// rest counted; the window's summary is written when the window closes
// (at the next request after it, or when the check fires), dated at its
// end, and a new window starts.
func TestSummarizerWindow(t *testing.T) {
	s := newSummaryLog(t, 0)
	if !s.sum.Note("192.0.2.1", "health", 200) {
		t.Fatal("the first request of the window is not written in full")
	}
	for i := range 5 {
		if s.sum.Note("192.0.2.1", []string{"unrouted", "list_pipelines"}[i%2], []int{404, 401}[i%2]) {
			t.Fatalf("request %d of the window written in full", i+2)
		}
	}
	s.clock.Advance(5 * time.Second)
	if s.sum.Note("192.0.2.1", "health", 429) {
		t.Fatal("a request in the same window written in full")
	}
	if recs := s.records(t); len(recs) != 0 {
		t.Fatalf("%d records before the window closed", len(recs))
	}
	s.clock.Advance(5 * time.Second) // the window, aligned to 10 s, has closed
	if !s.sum.Note("192.0.2.1", "health", 200) {
		t.Fatal("the first request of the next window is not written in full")
	}
	recs := s.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records, want the one summary", len(recs))
	}
	r := recs[0]
	if r.Type != audit.TypeAnonymousSummary || r.ClientIP != "192.0.2.1" || r.Outcome != audit.OutcomeSummary ||
		count(r, "", "") != 6 || count(r, "by_status", "404") != 3 || count(r, "by_status", "401") != 2 || count(r, "by_status", "429") != 1 ||
		count(r, "by_route", "unrouted") != 3 || count(r, "by_route", "health") != 1 {
		t.Fatalf("summary %+v", r)
	}
	start, end := r.Details["window_start"].(string), r.Details["window_end"].(string)
	if want := testutil.NewClock().Now().UTC().Format(time.RFC3339Nano); start != want || !r.Time.Equal(testutil.NewClock().Now().Add(10*time.Second)) {
		t.Errorf("window %s to %s at %s, want it to start at %s and be dated at its end", start, end, r.Time, want)
	}
	// The check for closed windows writes a window's summary with no
	// request after it.
	s.sum.Note("192.0.2.1", "health", 200)
	s.clock.Advance(10 * time.Second)
	s.tick <- time.Time{}
	s.tick <- time.Time{} // the first check is done once the second is taken
	if recs := s.records(t); len(recs) != 2 || count(recs[1], "", "") != 1 {
		t.Fatalf("after the check: %+v", recs)
	}
	if _, err := audit.Verify(s.file); err != nil {
		t.Fatal(err)
	}
}

// Past the cap of addresses, requests are counted in one summary for the
// other addresses, without a record in full, whatever their number.
func TestSummarizerCap(t *testing.T) {
	s := newSummaryLog(t, 2)
	full := 0
	for a := range 50 {
		for range 3 {
			if s.sum.Note(fmt.Sprintf("198.51.100.%d", a), "unrouted", 404) {
				full++
			}
		}
	}
	if full != 2 {
		t.Fatalf("%d requests written in full, want one per tracked address", full)
	}
	if err := s.sum.Flush(); err != nil {
		t.Fatal(err)
	}
	recs := s.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d summaries, want 2 tracked and 1 for the others", len(recs))
	}
	if recs[0].ClientIP != "198.51.100.0" || count(recs[0], "", "") != 2 || recs[1].ClientIP != "198.51.100.1" || count(recs[1], "", "") != 2 {
		t.Errorf("tracked summaries %+v", recs[:2])
	}
	if o := recs[2]; o.ClientIP != "" || o.Details["other_addresses"] != true || count(o, "", "") != 48*3 {
		t.Errorf("overflow summary %+v", o)
	}
	// Flush started a new window: the tracked addresses are free again.
	if !s.sum.Note("203.0.113.9", "health", 200) {
		t.Error("a new address after Flush is not written in full")
	}
}

// Close writes the current window's summaries, cut short at the time of
// the close; after it, requests are written in full. A request shed on
// low disk is only ever counted.
func TestSummarizerCloseFlushes(t *testing.T) {
	s := newSummaryLog(t, 0)
	s.sum.Count("192.0.2.7", "health", 503)
	if s.sum.Note("192.0.2.7", "health", 200) {
		t.Error("the shed request opened the address's window, yet the next one is written in full")
	}
	if !s.sum.Note("2001:db8::/64", "unrouted", 405) {
		t.Error("the first request of another address is not written in full")
	}
	s.clock.Advance(3 * time.Second)
	if err := s.sum.Close(); err != nil {
		t.Fatal(err)
	}
	recs := s.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records after Close: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.ClientIP != "192.0.2.7" || count(r, "", "") != 2 || count(r, "by_status", "503") != 1 || count(r, "by_status", "200") != 1 {
		t.Errorf("summary %+v", r)
	}
	if end := r.Details["window_end"].(string); end != s.clock.Now().UTC().Format(time.RFC3339Nano) {
		t.Errorf("window end %s, want the time of Close %s", end, s.clock.Now().UTC())
	}
	if !s.sum.Note("192.0.2.7", "health", 200) {
		t.Error("a request after Close is not written in full")
	}
	if err := s.sum.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := audit.Verify(s.file); err != nil {
		t.Fatal(err)
	}
}
