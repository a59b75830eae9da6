// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime/audit"
)

// Strong test keys, as the demo would read them from its environment.
const (
	adminKey  = "sk_test_admin_0123456789abcdefghijklmnopqrstuv"
	viewerKey = "sk_test_viewer_0123456789abcdefghijklmnopqrstu"
)

// TestDemo builds the demo, runs it as its own process and checks the
// original example's expected output over real HTTP, then its graceful
// shutdown on SIGTERM and its audit log.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary; skipped with -short")
	}
	bin := buildDemo(t)
	work := t.TempDir()

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TASKWIRE_KEY_ADMIN_FULL="+adminKey, "TASKWIRE_KEY_VIEWER_REPORTS="+viewerKey)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The banner ends with the "Docs at:" line; the curl line has the port.
	banner := readBanner(t, stdoutPipe, &stderr)
	for _, want := range []string{
		"Starting secure API server...",
		"API Key for admin: (from TASKWIRE_KEY_ADMIN_FULL)",
		"API Key for viewer: (from TASKWIRE_KEY_VIEWER_REPORTS)",
		"Test with:",
		"Console at: http://127.0.0.1:",
		"Docs at: http://127.0.0.1:",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	m := regexp.MustCompile(`curl -H "X-API-Key: \$TASKWIRE_KEY_ADMIN_FULL" (http://127\.0\.0\.1:[0-9]+)/pipelines`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no curl line with the server's address in the banner:\n%s", banner)
	}
	base := m[1]
	waitHealthy(t, base)

	call := func(method, path, key, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, raw
	}
	jsonOf := func(raw []byte) map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("not a JSON object: %s", raw)
		}
		return v
	}

	// Without a key: {"detail": "Not authenticated"}.
	status, h, raw := call("GET", "/pipelines", "", "")
	if status != http.StatusUnauthorized || jsonOf(raw)["detail"] != "Not authenticated" || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no key: %d %s", status, raw)
	}
	// With the admin key: {"pipelines": ["secure_demo_pipeline"]}.
	status, _, raw = call("GET", "/pipelines", adminKey, "")
	if got := jsonOf(raw); status != http.StatusOK || !reflect.DeepEqual(got, map[string]any{"pipelines": []any{"secure_demo_pipeline"}}) {
		t.Errorf("admin list: %d %s", status, raw)
	}
	// The viewer may reach only report_* pipelines: none here.
	status, _, raw = call("GET", "/pipelines", viewerKey, "")
	if got := jsonOf(raw); status != http.StatusOK || !reflect.DeepEqual(got, map[string]any{"pipelines": []any{}}) {
		t.Errorf("viewer list: %d %s", status, raw)
	}
	// Execute and wait for the run.
	status, _, raw = call("POST", "/pipelines/secure_demo_pipeline/execute?wait=5s", adminKey, `{"data": "hello"}`)
	run := jsonOf(raw)
	wantValidated := map[string]any{"processed": "HELLO", "status": "ok", "validated": true}
	if outputs, _ := run["outputs"].(map[string]any); status != http.StatusOK || run["status"] != "succeeded" || !reflect.DeepEqual(outputs["validated"], wantValidated) {
		t.Errorf("execute: %d %s", status, raw)
	}
	runID, _ := run["run_id"].(string)
	// The custom route starts a run, then records its own event naming it.
	status, _, raw = call("POST", "/execute-with-audit", adminKey, `{"data": "hello"}`)
	if got := jsonOf(raw); status != http.StatusAccepted || got["status"] != "started" || got["run_id"] == "" {
		t.Errorf("execute-with-audit: %d %s", status, raw)
	}

	// SIGTERM: a graceful shutdown, exit status 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("after SIGTERM the demo exited with %v\nstderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the demo did not exit within 10s of SIGTERM\nstderr:\n%s", stderr.String())
	}

	// The audit log: a line for each request above, no key anywhere, chain intact.
	logPath := filepath.Join(work, "audit.jsonl")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{adminKey, viewerKey} {
		if bytes.Contains(data, []byte(key)) || strings.Contains(stderr.String(), key) {
			t.Errorf("a key appears in the audit log or the server's log")
		}
	}
	var recs []audit.Record
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec audit.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("audit line is not JSON: %s", line)
		}
		recs = append(recs, rec)
	}
	has := func(what string, match func(audit.Record) bool) {
		t.Helper()
		for _, r := range recs {
			if match(r) {
				return
			}
		}
		t.Errorf("no audit record of %s in:\n%s", what, data)
	}
	// A request without a key is recorded in full when it is its address's
	// first anonymous request of the window, else counted in the
	// address's summary, written at the latest when the server stops.
	has("the request without a key", func(r audit.Record) bool {
		if r.Type == audit.TypeAnonymousSummary {
			byRoute, _ := r.Details["by_route"].(map[string]any)
			byStatus, _ := r.Details["by_status"].(map[string]any)
			return byRoute["list_pipelines"] != nil && byStatus["401"] != nil
		}
		return r.Route == "list_pipelines" && r.Status == 401 && r.Outcome == "unauthenticated" && r.Principal == ""
	})
	has("the admin's list", func(r audit.Record) bool {
		return r.Route == "list_pipelines" && r.Status == 200 && r.Principal == "admin_full" && r.AuthMethod == "api_key"
	})
	has("the viewer's list", func(r audit.Record) bool {
		return r.Route == "list_pipelines" && r.Status == 200 && r.Principal == "viewer_reports"
	})
	has("the execute", func(r audit.Record) bool {
		return r.Route == "execute_secure_demo_pipeline" && r.Status == 200 && r.Principal == "admin_full" &&
			r.PipelineID == "secure_demo_pipeline" && r.RunID == runID && runID != ""
	})
	has("the custom event", func(r audit.Record) bool {
		return r.Type == "execute_pipeline" && r.Principal == "admin_full" && r.Outcome == "ok" &&
			r.PipelineID == "secure_demo_pipeline" && r.Details["input_length"] == float64(5)
	})
	has("the execute-with-audit request", func(r audit.Record) bool {
		return r.Route == "execute_with_audit" && r.Status == 202 && r.Principal == "admin_full"
	})
	if sum, err := audit.Verify(logPath); err != nil || sum.Records != uint64(len(recs)) {
		t.Errorf("audit verify: %v, %d records of %d", err, sum.Records, len(recs))
	}
}

// readBanner reads the demo's standard output up to its "Docs at:" line.
func readBanner(t *testing.T, r io.Reader, stderr *testutil.Buffer) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var b strings.Builder
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the demo stopped before printing its banner:\n%s\nstderr:\n%s", b.String(), stderr.String())
			}
			b.WriteString(line + "\n")
			if strings.HasPrefix(line, "Docs at:") {
				// Keep draining stdout so that the demo never blocks on it.
				go func() {
					for range lines {
					}
				}()
				return b.String()
			}
		case <-timeout:
			t.Fatalf("no banner within 30s:\n%s\nstderr:\n%s", b.String(), stderr.String())
		}
	}
}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
