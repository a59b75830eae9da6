// SPDX-License-Identifier: Apache-2.0

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
)

// `audit verify` accepts summaries of anonymous requests as chained records
// like any other, and finds one whose counts were edited.
func TestAuditVerifyAcceptsAnonymousSummaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clock := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	l, err := audit.Open(path, audit.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sum := audit.NewSummarizer(l, audit.SummaryOptions{Now: now, MaxAddresses: 1})
	if err := l.Log(audit.Record{Type: audit.TypeRequest, RequestID: "req001", Principal: "admin_full", Route: "list_pipelines", Outcome: "ok", Status: 200}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		addr := []string{"192.0.2.1", "198.51.100.7"}[i%2]
		if sum.Note(addr, "unrouted", 404) {
			if err := l.Log(audit.Record{Type: audit.TypeRequest, ClientIP: addr, Route: "unrouted", Outcome: "rejected", Status: 404}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock = clock.Add(time.Minute) // the window closes: its summaries are written at the next request
	sum.Note("192.0.2.1", "health", 200)
	if err := sum.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := auditLines(t, path)
	if n := strings.Count(strings.Join(lines, "\n"), `"type":"anonymous_summary"`); n != 2 {
		t.Fatalf("%d summaries in %d lines, want the tracked address's and the overflow's", n, len(lines))
	}
	code, out, errOut := auditCLI(t, "audit", "verify", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 4 records") {
		t.Fatalf("verify: exit %d, %q %q", code, out, errOut)
	}
	for i, line := range lines {
		if strings.Contains(line, `"requests":24`) {
			lines[i] = strings.Replace(line, `"requests":24`, `"requests":2`, 1)
		}
	}
	writeAuditLines(t, path, lines)
	if code, out, _ := auditCLI(t, "audit", "verify", path); code != exitInvalid || !strings.Contains(out, "edited") {
		t.Fatalf("verify of an edited summary: exit %d, %q", code, out)
	}
}
