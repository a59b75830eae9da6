// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// auditRouteDemo serves the demo's server with its custom route, the audit
// log in a file of its own, over real HTTP. stop shuts it down and returns
// the audit records.
func auditRouteDemo(t *testing.T) (base string, stop func() []audit.Record) {
	t.Helper()
	engine, err := securedemo.NewEngine(tasks{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(file, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TASKWIRE_KEY_ADMIN_FULL": adminKey, "TASKWIRE_KEY_VIEWER_REPORTS": viewerKey}
	srv, err := securedemo.NewServer(engine,
		httpapi.WithGetenv(func(k string) string { return env[k] }),
		httpapi.WithAuditLogger(log),
		httpapi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := addExecuteWithAudit(srv); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	stopped := false
	stop = func() []audit.Record {
		t.Helper()
		if stopped {
			return nil
		}
		stopped = true
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := engine.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := log.Close(); err != nil {
			t.Error(err)
		}
		if _, err := audit.Verify(file); err != nil {
			t.Errorf("audit verify: %v", err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var recs []audit.Record
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var rec audit.Record
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("audit line is not JSON: %s", line)
			}
			recs = append(recs, rec)
		}
		return recs
	}
	t.Cleanup(func() { stop() })
	return ts.URL, stop
}

// TestExecuteWithAuditDecodesStrictly sends the bodies the built-in
// execute refuses to both it and the demo's /execute-with-audit: each gets
// the same status and problem detail from both. Good bodies start a run on
// both, and the custom route's audit event and request record carry the
// run's id.
func TestExecuteWithAuditDecodesStrictly(t *testing.T) {
	base, stop := auditRouteDemo(t)
	post := func(path, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", adminKey)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: not JSON: %s", path, raw)
		}
		return resp.StatusCode, v
	}
	const jsonType = "application/json"
	bad := []struct {
		name, contentType, body string
		status                  int
	}{
		{"a key in the wrong case", jsonType, `{"DATA":"x"}`, http.StatusBadRequest},
		{"no inputs", jsonType, `{}`, http.StatusBadRequest},
		{"a duplicate key", jsonType, `{"data":"x","data":"y"}`, http.StatusBadRequest},
		{"invalid UTF-8", jsonType, "{\"data\":\"\xff\xfe\"}", http.StatusBadRequest},
		{"text/plain", "text/plain", `{"data":"x"}`, http.StatusUnsupportedMediaType},
		{"10001 characters", jsonType, `{"data":"` + strings.Repeat("é", 10001) + `"}`, http.StatusUnprocessableEntity},
	}
	for _, c := range bad {
		builtIn, want := post("/pipelines/secure_demo_pipeline/execute", c.contentType, c.body)
		custom, got := post("/execute-with-audit", c.contentType, c.body)
		if builtIn != c.status || custom != c.status {
			t.Errorf("%s: execute %d, execute-with-audit %d, want %d for both", c.name, builtIn, custom, c.status)
		}
		if got["detail"] != want["detail"] || !reflect.DeepEqual(got["errors"], want["errors"]) {
			t.Errorf("%s: execute-with-audit answers %v, execute %v", c.name, got, want)
		}
	}

	// 10000 characters of two bytes each: within max_length, which counts
	// characters.
	long := `{"data":"` + strings.Repeat("é", 10000) + `"}`
	var runIDs []string
	for _, body := range []string{`{"data":"hello"}`, long} {
		if status, v := post("/pipelines/secure_demo_pipeline/execute", jsonType, body); status != http.StatusAccepted {
			t.Errorf("execute of %.20s: %d %v", body, status, v)
		}
		status, v := post("/execute-with-audit", jsonType, body)
		id, _ := v["run_id"].(string)
		if status != http.StatusAccepted || id == "" {
			t.Fatalf("execute-with-audit of %.20s: %d %v", body, status, v)
		}
		runIDs = append(runIDs, id)
	}

	recs := stop()
	var events, requests []audit.Record
	for _, r := range recs {
		switch {
		case r.Type == "execute_pipeline":
			events = append(events, r)
		case r.Type == audit.TypeRequest && r.Route == "execute_with_audit" && r.Status == http.StatusAccepted:
			requests = append(requests, r)
		}
	}
	if len(events) != 2 || len(requests) != 2 {
		t.Fatalf("%d events and %d accepted requests of the custom route, want 2 of each", len(events), len(requests))
	}
	for i, id := range runIDs {
		if events[i].RunID != id || requests[i].RunID != id {
			t.Errorf("run %s: event names run %q, request record run %q", id, events[i].RunID, requests[i].RunID)
		}
	}
	if n := events[1].Details["input_length"]; n != float64(10000) {
		t.Errorf("input_length %v, want 10000 characters", n)
	}
	for _, r := range recs {
		if r.Route == "execute_with_audit" && r.Type == audit.TypeRequest && r.Status >= 400 && r.RunID != "" {
			t.Errorf("a refused request names a run: %+v", r)
		}
	}
}
