// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/client"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/natsjs"
	"github.com/taskwire/taskwire/runtime/route"
	"github.com/taskwire/taskwire/runtime/schema"
)

// The keys of the dead-letter service: admin writes every pipeline,
// operator reads and executes them, viewer only reads, writer writes
// only pipeline other.
var dlKeys = map[string]string{
	"DL_ADMIN":    "sk_dl_admin_0123456789abcdefghij",
	"DL_OPERATOR": "sk_dl_operator_0123456789abcdefgh",
	"DL_VIEWER":   "sk_dl_viewer_0123456789abcdefghij",
	"DL_WRITER":   "sk_dl_writer_0123456789abcdefghij",
}

type dlServer struct {
	url    string
	engine *runtime.Engine
	audit  string
	broken *atomic.Bool
}

// newDLServer serves pipelines flaky (a -> b, b failing permanently while
// broken holds) and other over engine options opts.
func newDLServer(t *testing.T, opts ...runtime.Option) *dlServer {
	t.Helper()
	d := &dlServer{broken: &atomic.Bool{}}
	d.broken.Store(true)
	reg := runtime.NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.RegisterTask("a", func(_ context.Context, in runtime.Inputs) (any, error) {
		x, err := runtime.Input[int](in, "x")
		return x + 1, err
	}))
	must(reg.RegisterTask("b", func(_ context.Context, in runtime.Inputs) (any, error) {
		if d.broken.Load() {
			return nil, runtime.Permanent(errors.New("b is broken"))
		}
		a, err := runtime.Input[int](in, "a_out")
		return a * 10, err
	}))
	in := &schema.Schema{Kind: schema.Object, Fields: []schema.Field{{Name: "x", Schema: &schema.Schema{Kind: schema.Int}}}}
	for _, id := range []string{"flaky", "other"} {
		must(reg.RegisterPipeline(runtime.Pipeline{
			ID:     id,
			Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
			Input:  in,
			Tasks: []runtime.Task{
				{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
				{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
			},
			Outputs: []runtime.Field{{Name: "b_out", Type: "int"}},
		}))
	}
	d.engine = runtime.New(reg, opts...)
	svc := httpapi.Service{
		Title: "Dead letters", Version: "1.0.0", OpenAPI: []byte(`{"openapi":"3.0.3"}`),
		Security: httpapi.Security{
			Enabled: true, APIKey: true, APIKeyHeader: "X-API-Key",
			Keys: []httpapi.Key{
				{ID: "admin", Env: "DL_ADMIN", Role: "admin", Pipelines: []string{"*"}},
				{ID: "operator", Env: "DL_OPERATOR", Role: "operator", Pipelines: []string{"*"}},
				{ID: "viewer", Env: "DL_VIEWER", Role: "viewer", Pipelines: []string{"*"}},
				{ID: "writer", Env: "DL_WRITER", Role: "writer", Pipelines: []string{"other"}},
			},
			ACLs: []httpapi.ACL{{Pattern: "*",
				Read:    []string{"admin", "operator", "viewer", "writer"},
				Execute: []string{"admin", "operator"},
				Write:   []string{"admin", "writer"}}},
			Audit: httpapi.Audit{Enabled: true, File: "never-opened.jsonl"},
		},
	}
	d.audit = filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(d.audit, audit.Options{})
	must(err)
	srv, err := httpapi.New(d.engine, svc, httpapi.WithAuditLogger(log), httpapi.WithLogger(quietLog),
		httpapi.WithGetenv(func(k string) string { return dlKeys[k] }))
	must(err)
	ts := httptest.NewServer(srv)
	d.url = ts.URL
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = d.engine.Shutdown(ctx)
		_ = log.Close()
	})
	return d
}

func (d *dlServer) call(t *testing.T, method, path, keyEnv string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, d.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", dlKeys[keyEnv])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, body, err)
		}
	}
	return resp.StatusCode
}

type dlView struct {
	ID         string    `json:"id"`
	PipelineID string    `json:"pipeline_id"`
	RunID      string    `json:"run_id"`
	Task       string    `json:"task"`
	Index      *int      `json:"index"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error"`
	Time       time.Time `json:"time"`
}

type dlList struct {
	DeadLetters []dlView `json:"dead_letters"`
	NextCursor  string   `json:"next_cursor"`
}

// failedRun starts a run of pipeline that fails, and waits for its dead
// letter to be listed to admin.
func (d *dlServer) failedRun(t *testing.T, pipeline string) (string, dlView) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := d.engine.Run(ctx, pipeline, map[string]any{"x": 1}, runtime.StartOptions{})
	if err != nil || run.Status != runtime.RunFailed {
		t.Fatalf("run: %v %+v", err, run)
	}
	for {
		var l dlList
		if st := d.call(t, http.MethodGet, "/dead-letters?pipeline_id="+pipeline, "DL_ADMIN", &l); st != http.StatusOK {
			t.Fatalf("list: %d", st)
		}
		for _, dl := range l.DeadLetters {
			if dl.RunID == run.ID {
				return run.ID, dl
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no dead letter of %s listed", run.ID)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// redacted is a task's own error as the API shows it: the stable message
// with the error id, never the task's text ("b is broken").
var redacted = regexp.MustCompile(`^task failed \(error id [A-Z0-9]+\)$`)

func testDeadLettersOverHTTP(t *testing.T, d *dlServer) {
	runID, dl := d.failedRun(t, "flaky")
	otherRun, _ := d.failedRun(t, "other")
	if dl.PipelineID != "flaky" || dl.Task != "b" || dl.Index != nil || dl.Attempts != 1 || !redacted.MatchString(dl.LastError) || dl.Time.IsZero() || dl.ID == "" {
		t.Fatalf("dead letter %+v", dl)
	}

	// Listing: only pipelines the caller may write, newest first, paged.
	var l dlList
	if st := d.call(t, http.MethodGet, "/dead-letters?limit=1", "DL_ADMIN", &l); st != http.StatusOK || len(l.DeadLetters) != 1 || l.DeadLetters[0].RunID != otherRun || l.NextCursor == "" {
		t.Fatalf("admin page 1: %d %+v", st, l)
	}
	var l2 dlList
	if st := d.call(t, http.MethodGet, "/dead-letters?limit=1&cursor="+l.NextCursor, "DL_ADMIN", &l2); st != http.StatusOK || len(l2.DeadLetters) != 1 || l2.DeadLetters[0].RunID != runID || l2.NextCursor != "" {
		t.Fatalf("admin page 2: %d %+v", st, l2)
	}
	if st := d.call(t, http.MethodGet, "/dead-letters", "DL_VIEWER", &l); st != http.StatusOK || len(l.DeadLetters) != 0 {
		t.Fatalf("viewer: %d %+v", st, l)
	}
	if st := d.call(t, http.MethodGet, "/dead-letters", "DL_WRITER", &l); st != http.StatusOK || len(l.DeadLetters) != 1 || l.DeadLetters[0].PipelineID != "other" {
		t.Fatalf("writer: %d %+v", st, l)
	}
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/dead-letters?pipeline_id=flaky", "DL_VIEWER", http.StatusForbidden},
		{"/dead-letters?pipeline_id=flaky", "DL_WRITER", http.StatusForbidden},
		{"/dead-letters?pipeline_id=nope", "DL_ADMIN", http.StatusNotFound},
		{"/dead-letters?limit=0", "DL_ADMIN", http.StatusBadRequest},
		{"/dead-letters?cursor=bogus", "DL_ADMIN", http.StatusBadRequest},
	} {
		if st := d.call(t, http.MethodGet, c.path, c.key, nil); st != c.want {
			t.Errorf("GET %s as %s: %d, want %d", c.path, c.key, st, c.want)
		}
	}

	// Requeue: write on the pipeline; a pipeline the caller cannot read is 404.
	requeue := "/dead-letters/" + dl.ID + "/requeue"
	for _, c := range []struct {
		key  string
		want int
	}{{"DL_VIEWER", http.StatusForbidden}, {"DL_OPERATOR", http.StatusForbidden}, {"DL_WRITER", http.StatusNotFound}} {
		if st := d.call(t, http.MethodPost, requeue, c.key, nil); st != c.want {
			t.Errorf("requeue as %s: %d, want %d", c.key, st, c.want)
		}
	}
	if st := d.call(t, http.MethodPost, "/dead-letters/bogus/requeue", "DL_ADMIN", nil); st != http.StatusNotFound {
		t.Errorf("requeue of a bogus id: %d", st)
	}
	d.broken.Store(false)
	var reopened struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	if st := d.call(t, http.MethodPost, requeue, "DL_ADMIN", &reopened); st != http.StatusOK || reopened.RunID != runID {
		t.Fatalf("requeue: %d %+v", st, reopened)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := d.engine.Wait(ctx, runID)
	if err != nil || done.Status != runtime.RunSucceeded {
		t.Fatalf("after requeue: %v %+v", err, done)
	}
	if st := d.call(t, http.MethodPost, requeue, "DL_ADMIN", nil); st != http.StatusNotFound {
		t.Errorf("second requeue: %d, want 404", st)
	}

	// Rerun: execute on the pipeline.
	rerun := "/runs/" + otherRun + "/rerun"
	if st := d.call(t, http.MethodPost, rerun, "DL_VIEWER", nil); st != http.StatusForbidden {
		t.Errorf("rerun as viewer: %d", st)
	}
	if st := d.call(t, http.MethodPost, "/runs/nope/rerun", "DL_ADMIN", nil); st != http.StatusNotFound {
		t.Errorf("rerun of a missing run: %d", st)
	}
	var started struct {
		RunID   string `json:"run_id"`
		RerunOf string `json:"rerun_of"`
	}
	if st := d.call(t, http.MethodPost, rerun, "DL_OPERATOR", &started); st != http.StatusAccepted || started.RunID == "" || started.RerunOf != otherRun {
		t.Fatalf("rerun: %d %+v", st, started)
	}
	again, err := d.engine.Wait(ctx, started.RunID)
	if err != nil || again.Status != runtime.RunSucceeded {
		t.Fatalf("rerun run: %v %+v", err, again)
	}
	var view struct {
		RerunOf string `json:"rerun_of"`
	}
	if st := d.call(t, http.MethodGet, "/runs/"+started.RunID, "DL_OPERATOR", &view); st != http.StatusOK || view.RerunOf != otherRun {
		t.Fatalf("GET rerun: %d %+v", st, view)
	}
	// The rerun is the operator's run (whoever re-runs owns the new run):
	// the viewer, without all_runs, does not see it.
	if st := d.call(t, http.MethodGet, "/runs/"+started.RunID, "DL_VIEWER", nil); st != http.StatusNotFound {
		t.Errorf("GET rerun as viewer: %d, want 404", st)
	}

	// Audit: requeue and rerun are state-changing requests, each an intent
	// record followed by its request record; a listing is not.
	recs := readAuditFile(t, d.audit)
	seen := map[string]bool{}
	for i, r := range recs {
		if r.Type == audit.TypeIntent && r.Route == "list_dead_letters" {
			t.Errorf("intent record for a listing: %+v", r)
		}
		if r.Type != audit.TypeRequest || r.Outcome != "ok" || (r.Route != "requeue_dead_letter" && r.Route != "rerun_run") {
			continue
		}
		var intent *audit.Record
		for j := range recs[:i] {
			if recs[j].Seq == r.Intent {
				intent = &recs[j]
			}
		}
		if intent == nil || intent.Type != audit.TypeIntent || intent.Route != r.Route {
			t.Errorf("%s: no intent record before %+v", r.Route, r)
		}
		switch r.Route {
		case "requeue_dead_letter":
			if r.Principal != "admin" || r.RunID != runID || r.PipelineID != "flaky" || r.Status != http.StatusOK || r.Method != http.MethodPost {
				t.Errorf("requeue record %+v", r)
			}
		case "rerun_run":
			if r.Principal != "operator" || r.RunID != started.RunID || r.PipelineID != "other" || r.Status != http.StatusAccepted {
				t.Errorf("rerun record %+v", r)
			}
		}
		seen[r.Route] = true
	}
	if !seen["requeue_dead_letter"] || !seen["rerun_run"] {
		t.Errorf("audit records of requeue and rerun missing: %v", seen)
	}
	if _, err := audit.Verify(d.audit); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}

func readAuditFile(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestDeadLettersOverHTTPInMemory(t *testing.T) {
	testDeadLettersOverHTTP(t, newDLServer(t))
}

func TestDeadLettersOverHTTPOnJetStream(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	b, err := natsjs.Connect(context.Background(), s.ClientURL(), natsjs.Options{MaxDeliver: 3, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() }) // after the engine's shutdown (cleanups run last first)
	testDeadLettersOverHTTP(t, newDLServer(t, runtime.WithBackend(b), runtime.WithWorkers(4)))
}

// The Go client's ListDeadLetters, RequeueDeadLetter and RerunRun against
// a real server, with the routes a generated client gets from the table.
func TestGoClientDeadLetters(t *testing.T) {
	d := newDLServer(t)
	runID, dl := d.failedRun(t, "flaky")
	var routes client.Routes
	for _, r := range route.Table(nil, false) {
		cr := client.Route{Method: r.Method, Path: r.Path, OperationID: r.OperationID}
		switch r.OperationID {
		case route.GetRun:
			routes.GetRun = cr
		case route.RunEvents:
			routes.RunEvents = cr
		case route.RerunRun:
			routes.RerunRun = cr
		case route.ListDeadLetters:
			routes.ListDeadLetters = cr
		case route.RequeueDead:
			routes.RequeueDeadLetter = cr
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(d.url, routes, client.WithAPIKey(dlKeys["DL_ADMIN"]))
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.ListDeadLetters(ctx, client.ListDeadLettersOptions{PipelineID: "flaky", Limit: 10})
	if err != nil || len(page.DeadLetters) != 1 || page.DeadLetters[0].ID != dl.ID || page.DeadLetters[0].LastError != dl.LastError || page.NextCursor != "" {
		t.Fatalf("ListDeadLetters: %+v %v", page, err)
	}
	viewer, err := client.New(d.url, routes, client.WithAPIKey(dlKeys["DL_VIEWER"]))
	if err != nil {
		t.Fatal(err)
	}
	var herr *client.Error
	if _, err := viewer.RequeueDeadLetter(ctx, dl.ID); !errors.As(err, &herr) || herr.Status != http.StatusForbidden {
		t.Fatalf("viewer requeue: %v", err)
	}
	d.broken.Store(false)
	run, err := c.RequeueDeadLetter(ctx, dl.ID)
	if err != nil || run.ID != runID {
		t.Fatalf("RequeueDeadLetter: %+v %v", run, err)
	}
	if _, err := c.RequeueDeadLetter(ctx, dl.ID); !errors.As(err, &herr) || herr.Status != http.StatusNotFound {
		t.Fatalf("second requeue: %v", err)
	}
	if done, err := d.engine.Wait(ctx, runID); err != nil || done.Status != runtime.RunSucceeded {
		t.Fatalf("after requeue: %+v %v", done, err)
	}
	again, err := c.RerunRun(ctx, runID)
	if err != nil || again.ID == "" || again.ID == runID || again.RerunOf != runID {
		t.Fatalf("RerunRun: %+v %v", again, err)
	}
	if got, err := c.Wait(ctx, again.ID); err != nil || got.Status != client.RunSucceeded || got.RerunOf != runID {
		t.Fatalf("rerun run: %+v %v", got, err)
	}
	old, err := client.New(d.url, client.Routes{GetRun: routes.GetRun}, client.WithAPIKey(dlKeys["DL_ADMIN"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ListDeadLetters(ctx, client.ListDeadLettersOptions{}); err == nil || !strings.Contains(err.Error(), "regenerate") {
		t.Fatalf("client without the route: %v", err)
	}
}
