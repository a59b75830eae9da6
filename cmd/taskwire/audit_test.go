// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
)

func auditCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(&env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, args)
	return code, out.String(), errOut.String()
}

// writeAuditLog writes n request records and returns the log's files
// (rotated ones first).
func writeAuditLog(t *testing.T, n int, maxSize int64) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clock := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	l, err := audit.Open(path, audit.Options{MaxSize: maxSize, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := audit.Record{Type: "request", RequestID: fmt.Sprintf("req%03d", i+1), Principal: "admin_full", AuthMethod: "api_key",
			ClientIP: "192.0.2.1", Method: "GET", Route: "list_pipelines", Path: "/pipelines", Outcome: "ok", Status: 200 + i}
		if err := l.Log(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := audit.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, files
}

func auditLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeAuditLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyIntact(t *testing.T) {
	path, _ := writeAuditLog(t, 6, 0)
	code, out, errOut := auditCLI(t, "audit", "verify", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 6 records, chain intact; last hash ") || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestAuditVerifyNamesTheBrokenRecord(t *testing.T) {
	cases := []struct {
		name   string
		tamper func([]string) []string
		want   []string // in stdout
	}{
		{"edit", func(ls []string) []string {
			ls[3] = strings.Replace(ls[3], `"status":203`, `"status":200`, 1)
			return ls
		}, []string{"audit.jsonl:4: ", "record 4", "edited"}},
		{"edit principal", func(ls []string) []string {
			ls[1] = strings.Replace(ls[1], `"principal":"admin_full"`, `"principal":"viewer_reports"`, 1)
			return ls
		}, []string{"audit.jsonl:2: ", "record 2", "edited"}},
		{"delete", func(ls []string) []string {
			return append(ls[:2:2], ls[3:]...)
		}, []string{"audit.jsonl:3: ", "record 4 follows record 2", "1 record(s) deleted"}},
		{"insert copy", func(ls []string) []string {
			return append(ls[:4:4], append([]string{ls[1]}, ls[4:]...)...)
		}, []string{"audit.jsonl:5: ", "record numbered 2 follows record 4", "inserted"}},
		{"insert forged", func(ls []string) []string {
			forged := `{"seq":4,"time":"2026-11-29T10:00:04Z","type":"request","principal":"admin_full","outcome":"ok","prev":"` + audit.GenesisHash + `","hash":"` + audit.GenesisHash + `"}`
			return append(ls[:3:3], append([]string{forged}, ls[3:]...)...)
		}, []string{"audit.jsonl:4: ", "record 4", "edited"}},
		{"swap", func(ls []string) []string {
			ls[2], ls[3] = ls[3], ls[2]
			return ls
		}, []string{"audit.jsonl:3: ", "record 4 follows record 2"}},
		{"plain text", func(ls []string) []string {
			return append(ls[:1:1], append([]string{"hello"}, ls[1:]...)...)
		}, []string{"audit.jsonl:2: ", "record 2", "not an audit record"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, _ := writeAuditLog(t, 6, 0)
			writeAuditLines(t, path, c.tamper(auditLines(t, path)))
			code, out, errOut := auditCLI(t, "audit", "verify", path)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d; stdout %q", code, exitInvalid, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q does not say %q", out, w)
				}
			}
			if !strings.Contains(errOut, "the chain breaks after") {
				t.Errorf("stderr %q", errOut)
			}
		})
	}
}

func TestAuditVerifyAcrossRotatedFiles(t *testing.T) {
	path, files := writeAuditLog(t, 20, 1200)
	if len(files) < 3 {
		t.Fatalf("want several rotated files, got %v", files)
	}
	code, out, _ := auditCLI(t, append([]string{"audit", "verify"}, files...)...)
	if code != exitOK || !strings.HasPrefix(out, "ok: 20 records") {
		t.Fatalf("exit %d: %q", code, out)
	}
	// A rotated file left out is a deletion.
	without := append(append([]string{}, files[:1]...), files[2:]...)
	code, out, _ = auditCLI(t, append([]string{"audit", "verify"}, without...)...)
	if code != exitInvalid || !strings.Contains(out, "deleted") || !strings.Contains(out, filepath.Base(files[2])+":1:") {
		t.Fatalf("a missing file: exit %d: %q", code, out)
	}
	// Files in the wrong order break the chain.
	code, _, _ = auditCLI(t, "audit", "verify", path, files[0])
	if code != exitInvalid {
		t.Fatalf("files out of order: exit %d", code)
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	if code, _, errOut := auditCLI(t, "audit"); code != exitUsage || errOut == "" {
		t.Errorf("no verb: exit %d %q", code, errOut)
	}
	if code, _, _ := auditCLI(t, "audit", "list", "x"); code != exitUsage {
		t.Errorf("unknown verb: exit %d", code)
	}
	if code, _, _ := auditCLI(t, "audit", "verify"); code != exitUsage {
		t.Errorf("no files: exit %d", code)
	}
	if code, _, errOut := auditCLI(t, "audit", "verify", filepath.Join(t.TempDir(), "missing.jsonl")); code != exitUsage || !strings.Contains(errOut, "missing.jsonl") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

// Intent records: answered ones are counted, open ones named; neither is a break.
func TestAuditVerifyIntents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path, audit.Options{Sync: audit.Always})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"reqA", "reqB"} {
		seq, err := l.Append(audit.Record{Type: audit.TypeIntent, RequestID: id, Route: "cancel_run", Outcome: audit.OutcomePending})
		if err != nil {
			t.Fatal(err)
		}
		if id == "reqA" {
			if err := l.Log(audit.Record{Type: audit.TypeRequest, RequestID: id, Route: "cancel_run", Outcome: "ok", Status: 200, Intent: seq}); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.Close()
	code, out, errOut := auditCLI(t, "audit", "verify", path)
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, "ok: 3 records (2 intent records, 1 answered), chain intact; last hash ") ||
		!strings.Contains(out, path+":3: record 3: intent of request reqB (cancel_run) has no request record") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// With its oldest records archived away, --partial accepts an answer
	// whose intent went with them.
	lines := auditLines(t, path)
	writeAuditLines(t, path, append(lines[:0:0], lines[1:]...))
	code, out, _ = auditCLI(t, "audit", "verify", "--partial", path)
	if code != exitOK {
		t.Fatalf("a partial chain whose first answer's intent was archived: exit %d, %q", code, out)
	}
}
