// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

var secQuietLog = httpapi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// readAudit reads every record of an audit file, checking that each line is
// one JSON object.
func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec audit.Record
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&rec); err != nil || dec.More() {
			t.Fatalf("line %d is not one JSON record (%v): %q", i+1, err, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// checkNoSecrets fails when a test credential appears in the file.
func checkNoSecrets(t *testing.T, path string, secrets ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(secrets, secAdminKey, secViewerKey) {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the audit log contains a credential %q", s[:12]+"...")
		}
	}
}

type auditWant struct {
	q                  secReq
	status             int
	outcome, principal string
	route, pipeline    string
	runID              bool // the record names the run (execute, runs/{id})
}

func TestAuditOneRecordPerRequest(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) {
		secSetRate(t, svc, "list_pipelines", httpapi.Rate{N: 2, Per: time.Minute})
	}, secQuietLog, httpapi.WithAuditSummaries(time.Second, 0)) // a step a second: each anonymous request is the first of its window, so it keeps its own record
	if err := s.srv.Handle(httpapi.Route{Method: http.MethodGet, Path: "/boom", OperationID: "boom"},
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom") })); err != nil {
		t.Fatal(err)
	}
	const badKey = "sk_bad_key_that_must_not_be_logged_0123456789"
	exec := secReq{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute?wait=10s", body: `{"data":"hello"}`, key: secAdminKey}
	steps := []auditWant{
		{q: secReq{path: "/pipelines", key: secAdminKey}, status: 200, outcome: "ok", principal: "admin_full", route: "list_pipelines"},
		{q: secReq{path: "/pipelines"}, status: 401, outcome: "unauthenticated", route: "list_pipelines"},
		{q: secReq{path: "/pipelines", key: badKey}, status: 401, outcome: "unauthenticated", route: "list_pipelines"},
		{q: secReq{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, key: secViewerKey}, status: 403, outcome: "denied", principal: "viewer_reports", route: "execute_secure_demo_pipeline", pipeline: "secure_demo_pipeline"},
		{q: secReq{path: "/runs/r_missing", key: secAdminKey}, status: 404, outcome: "rejected", principal: "admin_full", route: "get_run", runID: true},
		{q: secReq{path: "/no/such/route", key: secAdminKey}, status: 404, outcome: "rejected"},
		{q: secReq{method: http.MethodDelete, path: "/pipelines", key: secAdminKey}, status: 405, outcome: "rejected"},
		{q: secReq{path: "/pipelines", key: secAdminKey}, status: 200, outcome: "ok", principal: "admin_full", route: "list_pipelines"},
		{q: secReq{path: "/pipelines", key: secAdminKey}, status: 429, outcome: "rate_limited", principal: "admin_full", route: "list_pipelines"},
		{q: secReq{path: "/boom", key: secAdminKey}, status: 500, outcome: "panic", principal: "admin_full", route: "boom"},
		{q: exec, status: 200, outcome: "ok", principal: "admin_full", route: "execute_secure_demo_pipeline", pipeline: "secure_demo_pipeline", runID: true},
		{q: secReq{path: "/healthz", remote: "198.51.100.5:9"}, status: 200, outcome: "ok", route: "health"},
	}
	var ids, runIDs []string
	var times []time.Time
	for i, st := range steps {
		s.clock.Advance(time.Second)
		times = append(times, s.clock.Now())
		w := s.do(t, st.q)
		secWantStatus(t, w, st.status, fmt.Sprintf("step %d (%s %s)", i+1, st.q.method, st.q.path))
		ids = append(ids, w.Header().Get("X-Request-Id"))
		runID := ""
		if strings.Contains(st.q.path, "/execute") && w.Code < 300 {
			var run struct {
				RunID string `json:"run_id"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &run); err != nil || run.RunID == "" {
				t.Fatalf("execute answered %s", w.Body.String())
			}
			runID = run.RunID
		} else if strings.HasPrefix(st.q.path, "/runs/") {
			runID = strings.TrimPrefix(st.q.path, "/runs/")
		}
		runIDs = append(runIDs, runID)
	}
	// The run's own routes: read and stream its events (recorded at the first flush).
	runID := runIDs[len(runIDs)-2]
	for _, path := range []string{"/runs/" + runID, "/runs/" + runID + "/events"} {
		steps = append(steps, auditWant{q: secReq{path: path, key: secAdminKey}, status: 200, outcome: "ok", principal: "admin_full", route: map[bool]string{true: "run_events", false: "get_run"}[strings.HasSuffix(path, "/events")], pipeline: "secure_demo_pipeline", runID: true})
		s.clock.Advance(time.Second)
		times = append(times, s.clock.Now())
		w := s.do(t, steps[len(steps)-1].q)
		secWantStatus(t, w, 200, path)
		ids = append(ids, w.Header().Get("X-Request-Id"))
		runIDs = append(runIDs, runID)
	}

	all := readAudit(t, s.auditFile)
	// The one state-changing request that passed the chain's checks (the
	// admin's execute) has an intent record before its request record.
	var recs, intents []audit.Record
	for i, rec := range all {
		if rec.Seq != uint64(i+1) {
			t.Errorf("record %d has seq %d", i+1, rec.Seq)
		}
		if rec.Type == audit.TypeIntent {
			intents = append(intents, rec)
			continue
		}
		recs = append(recs, rec)
	}
	if len(recs) != len(steps) || len(intents) != 1 {
		t.Fatalf("%d request records for %d requests, %d intents (want 1)", len(recs), len(steps), len(intents))
	}
	for i, rec := range recs {
		st := steps[i]
		if rec.Route == "execute_secure_demo_pipeline" && rec.Status == http.StatusOK {
			in := intents[0]
			if in.RequestID != rec.RequestID || in.Route != rec.Route || in.PipelineID != "secure_demo_pipeline" || in.Action != "execute" ||
				in.Outcome != audit.OutcomePending || in.Principal != "admin_full" || in.Status != 0 || in.Seq+1 != rec.Seq || rec.Intent != in.Seq {
				t.Errorf("intent %+v for request record %+v", in, rec)
			}
		} else if rec.Intent != 0 {
			t.Errorf("record %d (%s) names intent %d", rec.Seq, rec.Route, rec.Intent)
		}
		method := st.q.method
		if method == "" {
			method = http.MethodGet
		}
		what := fmt.Sprintf("record %d (%s %s)", i+1, method, st.q.path)
		if rec.Type != "request" || rec.RequestID != ids[i] || ids[i] == "" {
			t.Errorf("%s: type %q request id %q, want request %q", what, rec.Type, rec.RequestID, ids[i])
		}
		if !rec.Time.Equal(times[i]) {
			t.Errorf("%s: time %v, want %v", what, rec.Time, times[i])
		}
		if rec.Status != st.status || rec.Outcome != st.outcome {
			t.Errorf("%s: status %d outcome %q, want %d %q", what, rec.Status, rec.Outcome, st.status, st.outcome)
		}
		if rec.Principal != st.principal {
			t.Errorf("%s: principal %q, want %q", what, rec.Principal, st.principal)
		}
		wantMethod := ""
		if st.principal != "" {
			wantMethod = "api_key"
		}
		if rec.AuthMethod != wantMethod {
			t.Errorf("%s: auth method %q, want %q", what, rec.AuthMethod, wantMethod)
		}
		wantIP := "192.0.2.10"
		if st.q.remote != "" {
			wantIP = strings.Split(st.q.remote, ":")[0]
		}
		if rec.ClientIP != wantIP || rec.Method != method || rec.Route != st.route {
			t.Errorf("%s: client %q method %q route %q, want %q %q %q", what, rec.ClientIP, rec.Method, rec.Route, wantIP, method, st.route)
		}
		if wantPath, _, _ := strings.Cut(st.q.path, "?"); rec.Path != wantPath {
			t.Errorf("%s: path %q, want %q (no query string)", what, rec.Path, wantPath)
		}
		if rec.PipelineID != st.pipeline {
			t.Errorf("%s: pipeline %q, want %q", what, rec.PipelineID, st.pipeline)
		}
		if st.runID && (rec.RunID == "" || rec.RunID != runIDs[i]) {
			t.Errorf("%s: run id %q, want %q", what, rec.RunID, runIDs[i])
		}
		if !st.runID && rec.RunID != "" {
			t.Errorf("%s: unexpected run id %q", what, rec.RunID)
		}
	}
	if recs[2].Detail != "invalid API key" || recs[1].Detail != "Not authenticated" {
		t.Errorf("401 details %q and %q", recs[1].Detail, recs[2].Detail)
	}
	checkNoSecrets(t, s.auditFile, badKey)
	if sum, err := audit.Verify(s.auditFile); err != nil || sum.Records != uint64(len(all)) || sum.Intents != 1 || len(sum.Open) != 0 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
}

func TestAuditConcurrentRequestsOneRecordEach(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) {
		secSetRate(t, svc, "list_pipelines", httpapi.Rate{N: 30, Per: time.Minute})
	})
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	const n = 80
	ids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/pipelines", nil)
			if i%4 != 3 {
				req.Header.Set("X-API-Key", secAdminKey)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ids <- resp.Header.Get("X-Request-Id")
			errs <- nil
		}()
	}
	want := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(ids)
	for id := range ids {
		want[id] = true
	}
	// The requests without credentials are counted in their address's
	// summary (but the first, recorded in full); shutting down writes it.
	shutdown(t, s.srv)
	recs, sums := splitSummaries(readAudit(t, s.auditFile))
	counted := summaryCounts(sums)
	if len(want) != n || len(recs)+counted["requests"] != n || len(recs) < 60 {
		t.Fatalf("%d records and %d counted, %d distinct request ids, for %d requests", len(recs), counted["requests"], len(want), n)
	}
	statuses := map[int]int{}
	for _, rec := range recs {
		if !want[rec.RequestID] {
			t.Errorf("record of unknown request %q", rec.RequestID)
		}
		delete(want, rec.RequestID)
		statuses[rec.Status]++
	}
	if statuses[200] != 30 || statuses[429] != 30 || statuses[401]+counted["401"] != 20 {
		t.Errorf("statuses %v and counted %v, want 30 × 200, 30 × 429, 20 × 401", statuses, counted)
	}
	if _, err := audit.Verify(s.auditFile); err != nil {
		t.Fatal(err)
	}
}

func TestAuditControlCharactersStayOnOneLine(t *testing.T) {
	s := newSecServer(t, nil, secQuietLog)
	secAddAuditRoute(t, s, map[string]any{"note": "first\r\nsecond\n{\"seq\":1}"})
	w := s.do(t, secReq{path: "/pipelines/abc%0d%0a%7B%22seq%22:99%7D", key: secAdminKey})
	secWantStatus(t, w, http.StatusNotFound, "pipeline id with CR LF")
	w = s.do(t, secReq{path: "/nothing%0d%0ahere%0a", key: secAdminKey})
	secWantStatus(t, w, http.StatusNotFound, "unrouted path with CR LF")
	w = s.do(t, secReq{method: http.MethodPost, path: "/execute-with-audit", body: `{"data":"line1\r\nline2"}`, key: secAdminKey})
	secWantStatus(t, w, http.StatusAccepted, "custom event with CR LF")

	data, err := os.ReadFile(s.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("\r")) || bytes.Count(data, []byte("\n")) != 5 {
		t.Fatalf("5 records (the custom route's intent too) must be 5 lines without CR:\n%s", data)
	}
	recs := readAudit(t, s.auditFile)
	if recs[0].Path != "/pipelines/abc\r\n{\"seq\":99}" || recs[0].PipelineID != "abc\r\n{\"seq\":99}" {
		t.Errorf("path %q pipeline %q: the values must be kept, escaped", recs[0].Path, recs[0].PipelineID)
	}
	if recs[1].Path != "/nothing\r\nhere\n" {
		t.Errorf("unrouted path %q", recs[1].Path)
	}
	if recs[3].Details["note"] != "first\r\nsecond\n{\"seq\":1}" {
		t.Errorf("event details %v", recs[3].Details)
	}
	if _, err := audit.Verify(s.auditFile); err != nil {
		t.Fatal(err)
	}
}

// secAddAuditRoute reproduces examples/secureapi/audit_route.go: a user
// route that records a custom event, then starts the pipeline. extra is
// added to the event's details.
func secAddAuditRoute(t *testing.T, s *secServer, extra map[string]any) {
	t.Helper()
	srv := s.srv
	route := httpapi.Route{
		Method:      http.MethodPost,
		Path:        "/execute-with-audit",
		OperationID: "execute_with_audit",
		Action:      httpapi.ActionExecute,
		Pipeline:    "secure_demo_pipeline",
		Limit:       &httpapi.Rate{N: 10, Per: time.Minute},
	}
	err := srv.Handle(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in securedemo.SecureDemoPipelineInput
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || dec.More() {
			httpapi.WriteProblem(w, r, http.StatusBadRequest, `send {"data": "..."}`)
			return
		}
		details := map[string]any{"input_length": len(in.Data)}
		for k, v := range extra {
			details[k] = v
		}
		ev := httpapi.Event{Type: "execute_pipeline", PipelineID: "secure_demo_pipeline", Success: true, Details: details}
		if err := srv.AuditEvent(r, ev); err != nil {
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the audit log cannot be written")
			return
		}
		run, err := securedemo.StartSecureDemoPipeline(r.Context(), srv.Engine(), in, runtime.StartOptions{})
		if err != nil {
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the run could not be started")
			return
		}
		w.Header().Set("Location", "/runs/"+run.ID())
		httpapi.WriteJSON(w, r, http.StatusAccepted, map[string]string{"run_id": run.ID(), "status": "started"})
	}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditCustomEvent(t *testing.T) {
	s := newSecServer(t, nil, secQuietLog)
	secAddAuditRoute(t, s, nil)
	w := s.do(t, secReq{method: http.MethodPost, path: "/execute-with-audit", body: `{"data":"hello"}`, key: secAdminKey, remote: "203.0.113.4:1"})
	secWantStatus(t, w, http.StatusAccepted, "execute with audit")
	id := w.Header().Get("X-Request-Id")
	// Denied: the route's ACL check runs before the handler, so no event.
	w = s.do(t, secReq{method: http.MethodPost, path: "/execute-with-audit", body: `{"data":"hello"}`, key: secViewerKey})
	secWantStatus(t, w, http.StatusForbidden, "viewer")

	recs := readAudit(t, s.auditFile)
	if len(recs) != 4 {
		t.Fatalf("%d records, want the route's intent, the event and the request record, then the 403", len(recs))
	}
	in, ev, req := recs[0], recs[1], recs[2]
	if in.Type != audit.TypeIntent || in.RequestID != id || in.Route != "execute_with_audit" || in.Action != "execute" || req.Intent != in.Seq || ev.Intent != 0 {
		t.Errorf("intent %+v answered by %+v (event %+v)", in, req, ev)
	}
	if ev.Type != "execute_pipeline" || ev.RequestID != id || ev.Principal != "admin_full" || ev.AuthMethod != "api_key" ||
		ev.ClientIP != "203.0.113.4" || ev.PipelineID != "secure_demo_pipeline" || ev.Outcome != "ok" || ev.Route != "execute_with_audit" {
		t.Errorf("event record %+v", ev)
	}
	if n, ok := ev.Details["input_length"].(float64); !ok || n != 5 {
		t.Errorf("event details %v, want input_length 5", ev.Details)
	}
	if req.Type != "request" || req.RequestID != id || req.Status != http.StatusAccepted || req.Route != "execute_with_audit" || req.Outcome != "ok" {
		t.Errorf("request record %+v", req)
	}
	if recs[3].Status != http.StatusForbidden || recs[3].Principal != "viewer_reports" || recs[3].Outcome != "denied" {
		t.Errorf("403 record %+v", recs[3])
	}
	checkNoSecrets(t, s.auditFile)
	if sum, err := audit.Verify(s.auditFile); err != nil || sum.Intents != 1 || len(sum.Open) != 0 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
}

// An event that JSON cannot encode fails alone: the log goes on.
func TestAuditUnencodableEventDoesNotBreakTheLog(t *testing.T) {
	s := newSecServer(t, nil, secQuietLog)
	secAddAuditRoute(t, s, map[string]any{"score": math.NaN()})
	w := s.do(t, secReq{method: http.MethodPost, path: "/execute-with-audit", body: `{"data":"x"}`, key: secAdminKey})
	secWantStatus(t, w, http.StatusServiceUnavailable, "event that cannot be encoded")
	for range 3 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusOK, "later request")
	}
	recs := readAudit(t, s.auditFile)
	if len(recs) != 5 || recs[0].Type != audit.TypeIntent || recs[1].Status != http.StatusServiceUnavailable || recs[1].Route != "execute_with_audit" {
		t.Fatalf("records %+v", recs)
	}
	if _, err := audit.Verify(s.auditFile); err != nil {
		t.Fatal(err)
	}
}

// failingFile is an audit file whose writes fail while fail is set.
type failingFile struct {
	*os.File
	fail *atomic.Bool
}

func (f failingFile) Write(b []byte) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("disk full")
	}
	return f.File.Write(b)
}

func TestAuditWriteFailureFailsClosed(t *testing.T) {
	var fail atomic.Bool
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path, audit.Options{File: func(name string, flag int, perm os.FileMode) (audit.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return failingFile{File: f, fail: &fail}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newSecServer(t, nil, httpapi.WithAuditLogger(l), secQuietLog)
	for range 2 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusOK, "before the failure")
	}
	fail.Store(true)
	w := s.do(t, secReq{path: "/pipelines", key: secAdminKey})
	check503 := func(w *httptest.ResponseRecorder, what string) {
		t.Helper()
		secWantStatus(t, w, http.StatusServiceUnavailable, what)
		var p httpapi.Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 503 || p.RequestID == "" || p.RequestID != w.Header().Get("X-Request-Id") {
			t.Errorf("%s: body %s", what, w.Body.String())
		}
		if strings.Contains(w.Body.String(), "secure_demo_pipeline") {
			t.Errorf("%s: the held response leaked: %s", what, w.Body.String())
		}
		if w.Header().Get("Content-Type") != "application/problem+json" || w.Header().Get("Retry-After") == "" || w.Header().Get("RateLimit") != "" {
			t.Errorf("%s: headers %v", what, w.Header())
		}
	}
	check503(w, "the failing write")

	// The disk works again, but the log has failed closed: a gap in the
	// chain is worse than an outage.
	fail.Store(false)
	runsBefore := secRunCount(t, s)
	for _, q := range []secReq{
		{path: "/pipelines", key: secAdminKey},
		{path: "/pipelines"},
		{path: "/healthz"},
		{path: "/no/such/route"},
		{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, key: secAdminKey},
	} {
		check503(s.do(t, q), q.method+" "+q.path+" after the failure")
	}
	if n := secRunCount(t, s); n != runsBefore {
		t.Errorf("an execute refused with 503 started a run anyway (%d runs, were %d)", n, runsBefore)
	}
	if err := l.Err(); err == nil {
		t.Error("the logger does not report its failure")
	}
	if recs := readAudit(t, path); len(recs) != 2 {
		t.Errorf("%d records on disk, want the 2 before the failure", len(recs))
	}
	if _, err := audit.Verify(path); err != nil {
		t.Fatal(err)
	}
}

func secRunCount(t *testing.T, s *secServer) int {
	t.Helper()
	page, err := s.srv.Engine().List(t.Context(), runtime.ListOptions{Limit: runtime.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Runs)
}

func TestAuditAbortedResponseIsRecorded(t *testing.T) {
	s := newSecServer(t, nil, secQuietLog)
	if err := s.srv.Handle(httpapi.Route{Method: http.MethodGet, Path: "/abort", OperationID: "abort"},
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/abort", nil)
	req.Header.Set("X-API-Key", secAdminKey)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("an aborted response answered %d", resp.StatusCode)
	}
	recs := readAudit(t, s.auditFile)
	if len(recs) != 1 || recs[0].Route != "abort" || recs[0].Outcome != "aborted" || recs[0].Principal != "admin_full" {
		t.Fatalf("records %+v", recs)
	}
}
