// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo/client"
	"github.com/taskwire/taskwire/internal/testutil"
)

// exchange is one HTTP request the client sent and the status it got.
type exchange struct {
	method, path, idempotencyKey string
	status                       int
	retryAfter                   string
}

// recorder is an http.RoundTripper that records every exchange.
type recorder struct {
	mu   sync.Mutex
	seen []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.seen = append(r.seen, exchange{req.Method, req.URL.Path, req.Header.Get("Idempotency-Key"), resp.StatusCode, resp.Header.Get("Retry-After")})
	r.mu.Unlock()
	return resp, nil
}

// take returns the exchanges recorded since the last call and forgets them.
func (r *recorder) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// buildDemo builds the demo binary into a temporary directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "secureapi")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDemo runs the demo binary with the test keys in its environment on
// a free loopback port, and returns its base URL. It is killed when the
// test ends.
func startDemo(t *testing.T, bin string, args ...string) string {
	t.Helper()
	work := t.TempDir()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TASKWIRE_KEY_ADMIN_FULL="+adminKey, "TASKWIRE_KEY_VIEWER_REPORTS="+viewerKey, "TASKWIRE_BROKER=", "TASKWIRE_ROLE=")
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("demo %v stderr:\n%s", args, stderr.String())
		}
	})
	banner := readBanner(t, stdout, &stderr)
	m := regexp.MustCompile(`Docs at: (http://127\.0\.0\.1:[0-9]+)/docs`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no address in the banner:\n%s", banner)
	}
	waitHealthy(t, m[1])
	return m[1]
}

func newDemoClient(t *testing.T, base string, rec *recorder, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, append([]client.Option{client.WithHTTPClient(&http.Client{Transport: rec})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asError returns err as a *client.Error with the given status, or fails.
func asError(t *testing.T, err error, status int) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("err = %v, want a *client.Error %d", err, status)
	}
	return e
}

// TestClientEndToEnd builds the demo, runs it as its own process and drives
// it through its generated client: a typed run, a start followed through
// its events and read back, HTTP errors as *client.Error, and the 429 of
// the execute route's rate limit (10 a minute), retried after Retry-After
// for an execute with an idempotency key and not for a plain one.
func TestClientEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary; skipped with -short")
	}
	base := startDemo(t, buildDemo(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := &recorder{}
	admin := newDemoClient(t, base, rec, client.WithAPIKey(adminKey))

	t.Run("list", func(t *testing.T) {
		ids, err := admin.ListPipelines(ctx)
		if err != nil || !slices.Equal(ids, []string{"secure_demo_pipeline"}) {
			t.Fatalf("ListPipelines = %v, %v", ids, err)
		}
	})

	t.Run("typed run", func(t *testing.T) {
		out, err := admin.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		if want := (client.Validated{Processed: "HELLO", Status: "ok", Validated: true}); out.Validated != want {
			t.Errorf("outputs = %+v, want %+v", out.Validated, want)
		}
	})

	t.Run("start, events, get", func(t *testing.T) {
		run, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "later"})
		if err != nil {
			t.Fatal(err)
		}
		if run.ID == "" || run.Status.Finished() && run.Status != client.RunSucceeded {
			t.Fatalf("start = %+v", run)
		}
		var types []string
		for ev, err := range admin.Events(ctx, run.ID) {
			if err != nil {
				t.Fatal(err)
			}
			if ev.RunID != run.ID {
				t.Errorf("event of run %q in the stream of %q", ev.RunID, run.ID)
			}
			types = append(types, string(ev.Type)+"/"+ev.Task)
		}
		t.Logf("events of run %s: %v", run.ID, types)
		if len(types) == 0 || types[0] != "snapshot/" {
			t.Fatalf("events %v: the first is not the snapshot", types)
		}
		// The snapshot may come after the run ended; a stream that opened
		// earlier shows the rest of its life, and every stream ends with
		// its end.
		if last := types[len(types)-1]; last != "run_succeeded/" && len(types) != 1 {
			t.Errorf("events %v do not end with run_succeeded", types)
		}
		st, err := admin.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != client.RunSucceeded || st.PipelineID != "secure_demo_pipeline" || st.Tasks["process_data"].Status != client.RunSucceeded || st.Tasks["validate_result"].Attempts != 1 {
			t.Errorf("GetRun = %+v", st)
		}
		var validated client.Validated
		if err := json.Unmarshal(st.Outputs["validated"], &validated); err != nil || validated.Processed != "LATER" {
			t.Errorf("raw output %s (%v)", st.Outputs["validated"], err)
		}
	})

	t.Run("401", func(t *testing.T) {
		e := asError(t, func() error { _, err := newDemoClient(t, base, rec).ListPipelines(ctx); return err }(), http.StatusUnauthorized)
		if e.Detail != "Not authenticated" || e.OperationID != "list_pipelines" {
			t.Errorf("no key: %+v", e)
		}
		wrong := newDemoClient(t, base, rec, client.WithAPIKey("sk_test_wrong_0123456789abcdefghijklmnopqrstuv"))
		_, err := wrong.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "x"})
		asError(t, err, http.StatusUnauthorized)
	})

	t.Run("403", func(t *testing.T) {
		viewer := newDemoClient(t, base, rec, client.WithAPIKey(viewerKey))
		_, err := viewer.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "x"})
		asError(t, err, http.StatusForbidden)
		if ids, err := viewer.ListPipelines(ctx); err != nil || len(ids) != 0 {
			t.Errorf("the viewer lists %v, %v", ids, err)
		}
	})

	t.Run("422", func(t *testing.T) {
		_, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: strings.Repeat("x", 10001)})
		e := asError(t, err, http.StatusUnprocessableEntity)
		if len(e.Errors) != 1 || e.Errors[0].Path != "data" {
			t.Errorf("422 names %+v, want the field data", e.Errors)
		}
	})

	t.Run("429", func(t *testing.T) {
		// Plain executes until the limit: the 429 is not retried.
		rec.take()
		var limited *client.Error
		for range 12 {
			_, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "again"})
			if err != nil {
				limited = asError(t, err, http.StatusTooManyRequests)
				break
			}
		}
		if limited == nil {
			t.Fatal("12 executes within a minute were not rate limited")
		}
		seen := rec.take()
		if last := seen[len(seen)-1]; last.status != http.StatusTooManyRequests || limited.RetryAfter <= 0 || last.retryAfter == "" {
			t.Fatalf("the limited execute: %+v, RetryAfter %s", last, limited.RetryAfter)
		}
		for _, ex := range seen {
			if ex.status == http.StatusTooManyRequests && ex != seen[len(seen)-1] {
				t.Errorf("a plain execute was sent again after its 429: %+v", seen)
			}
		}

		// With an idempotency key the execute is retried after Retry-After.
		run, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "keyed"}, client.WithIdempotencyKey("e2e-keyed-1"))
		if err != nil {
			t.Fatalf("the keyed execute was not retried to success: %v", err)
		}
		seen = rec.take()
		if len(seen) < 2 || seen[0].status != http.StatusTooManyRequests || seen[len(seen)-1].status != http.StatusAccepted {
			t.Fatalf("the keyed execute's exchanges: %+v; want 429, then 202 after Retry-After", seen)
		}
		for _, ex := range seen {
			if ex.method != http.MethodPost || ex.path != "/pipelines/secure_demo_pipeline/execute" || ex.idempotencyKey != "e2e-keyed-1" {
				t.Errorf("exchange %+v is not the keyed execute", ex)
			}
		}
		if run.ID == "" {
			t.Errorf("run = %+v", run)
		}
	})
}

// TestClientOverJetStreamEndToEnd runs the demo as an API process over
// JetStream with no worker, so that runs stay pending until the test wants
// them to go on, and drives it through the client: it cancels a run (which
// ends cancelled; a typed run waiting for it gets a *client.RunError; a
// second cancel is a 409), then follows a run's events live while a worker
// process, started once the stream is open, executes it.
func TestClientOverJetStreamEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary; skipped with -short")
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	bin := buildDemo(t)
	base := startDemo(t, bin, "-role", "api", "-broker", ns.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := newDemoClient(t, base, &recorder{}, client.WithAPIKey(adminKey))

	t.Run("cancel", func(t *testing.T) {
		// A typed run and a start with one idempotency key are one run:
		// the typed run waits for it while the test cancels it.
		const key = "e2e-cancel-1"
		result := make(chan error, 1)
		go func() {
			_, err := admin.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "never run"}, client.WithIdempotencyKey(key))
			result <- err
		}()
		run, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "never run"}, client.WithIdempotencyKey(key))
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != client.RunPending {
			t.Fatalf("with no worker the run is %s, want pending", run.Status)
		}
		// Cancel it once its stream is open: the stream shows it end.
		var types []client.EventType
		for ev, err := range admin.Events(ctx, run.ID) {
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, ev.Type)
			if ev.Type == client.EventType("snapshot") {
				if err := admin.CancelRun(ctx, run.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !slices.Equal(types, []client.EventType{"snapshot", "run_cancelled"}) {
			t.Errorf("events %v, want the snapshot then run_cancelled", types)
		}
		st, err := admin.GetRun(ctx, run.ID)
		if err != nil || st.Status != client.RunCancelled {
			t.Fatalf("GetRun after cancel = %+v, %v", st, err)
		}
		var runErr *client.RunError
		if err := <-result; !errors.As(err, &runErr) || runErr.Run.ID != run.ID || runErr.Run.Status != client.RunCancelled {
			t.Errorf("the typed run = %v, want the *client.RunError of the cancelled run", err)
		}
		asError(t, admin.CancelRun(ctx, run.ID), http.StatusConflict)
	})

	t.Run("start, events, get", func(t *testing.T) {
		run, err := admin.StartSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "streamed"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for ev, err := range admin.Events(ctx, run.ID) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(ev.Type)+"/"+ev.Task)
			if ev.Type == "snapshot" {
				if ev.Run.Status != client.RunPending {
					t.Fatalf("snapshot of a run no worker has seen: %s", ev.Run.Status)
				}
				startWorker(t, bin, ns.ClientURL())
			}
		}
		want := []string{"snapshot/", "run_started/", "task_started/process_data", "task_succeeded/process_data", "task_started/validate_result", "task_succeeded/validate_result", "run_succeeded/"}
		if !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		st, err := admin.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		var validated client.Validated
		if st.Status != client.RunSucceeded || json.Unmarshal(st.Outputs["validated"], &validated) != nil || validated.Processed != "STREAMED" {
			t.Errorf("GetRun = %+v", st)
		}
	})
}

// startWorker runs the demo binary as a worker process of the broker at
// url; it is killed when the test ends.
func startWorker(t *testing.T, bin, url string) {
	t.Helper()
	cmd := exec.Command(bin, "-role", "worker", "-broker", url)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "TASKWIRE_BROKER=", "TASKWIRE_ROLE=")
	var out testutil.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})
}
