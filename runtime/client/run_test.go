// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type demoOutput struct {
	Greeting struct {
		Message string `json:"message"`
	} `json:"greeting"`
}

const succeededRun = `{"run_id":"R1","pipeline_id":"demo","status":"succeeded","tasks":{"greet":{"status":"succeeded","attempts":1,"error":null}},"outputs":{"greeting":{"message":"hi"}},"error":null}`

// A run finished within the wait comes back in the execute answer.
func TestRunPipelineWaited(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { jsonAnswer(w, http.StatusOK, succeededRun) })
	c, _ := newClient(t, f)
	out, err := RunPipeline[demoOutput](context.Background(), c, executeDemo, map[string]string{"name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Greeting.Message != "hi" {
		t.Errorf("outputs = %+v", out)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].method != http.MethodPost || reqs[0].uri != "/pipelines/demo/execute?wait=30s" || reqs[0].body != `{"name":"Ada"}` || reqs[0].header.Get("Content-Type") != "application/json" {
		t.Errorf("requests = %+v", reqs)
	}
}

// A run still going after the wait is followed through its events, then
// read once more for its outputs.
func TestRunPipelineFollowsEvents(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("Location", "/runs/R1")
			jsonAnswer(w, http.StatusAccepted, `{"run_id":"R1","status":"running"}`)
		case strings.HasSuffix(r.URL.Path, "/events"):
			sse(w, snapshotRunning, "event: run_succeeded\ndata: {\"type\":\"run_succeeded\",\"run_id\":\"R1\",\"index\":-1}\n\n")
		default:
			jsonAnswer(w, http.StatusOK, succeededRun)
		}
	})
	c, _ := newClient(t, f)
	out, err := RunPipeline[demoOutput](context.Background(), c, executeDemo, struct{}{}, WithIdempotencyKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Greeting.Message != "hi" {
		t.Errorf("outputs = %+v", out)
	}
	var uris []string
	for _, r := range f.requests() {
		uris = append(uris, r.method+" "+r.uri)
	}
	if want := []string{"POST /pipelines/demo/execute?wait=30s", "GET /runs/R1/events", "GET /runs/R1"}; !slices.Equal(uris, want) {
		t.Errorf("requests %q, want %q", uris, want)
	}
	if k := f.requests()[0].header.Get("Idempotency-Key"); k != "k" {
		t.Errorf("Idempotency-Key = %q", k)
	}
}

func TestRunPipelineFailedRun(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		jsonAnswer(w, http.StatusOK, `{"run_id":"R2","pipeline_id":"demo","status":"failed","tasks":{},"outputs":{},"error":"task \"greet\" failed: blank name"}`)
	})
	c, _ := newClient(t, f)
	_, err := RunPipeline[demoOutput](context.Background(), c, executeDemo, struct{}{})
	var re *RunError
	if !errors.As(err, &re) || re.Run.ID != "R2" || re.Run.Status != RunFailed {
		t.Fatalf("err = %v, want a *RunError", err)
	}
	if got := err.Error(); got != `taskwire: run R2 of pipeline demo failed: task "greet" failed: blank name` {
		t.Errorf("Error() = %q", got)
	}
}

// A stream that ends before the run does is followed again after a pause.
func TestWaitReconnects(t *testing.T) {
	var streams atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/events"):
			if streams.Add(1) == 1 {
				sse(w, snapshotRunning) // then the server closes it
				return
			}
			sse(w, strings.Replace(snapshotRunning, "running", "succeeded", 1))
		case streams.Load() == 1:
			jsonAnswer(w, http.StatusOK, `{"run_id":"R1","pipeline_id":"demo","status":"running","tasks":{},"outputs":{},"error":null}`)
		default:
			jsonAnswer(w, http.StatusOK, succeededRun)
		}
	})
	c, waits := newClient(t, f)
	run, err := c.Wait(context.Background(), "R1")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != RunSucceeded || streams.Load() != 2 || !slices.Equal(*waits, []time.Duration{time.Second}) {
		t.Errorf("run %s after %d streams, waits %v", run.Status, streams.Load(), *waits)
	}
	out, err := DecodeOutputs[demoOutput](run)
	if err != nil || out.Greeting.Message != "hi" {
		t.Errorf("DecodeOutputs = %+v, %v", out, err)
	}
}

func TestWaitRefused(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		problem(w, http.StatusForbidden, "no read access")
	})
	c, _ := newClient(t, f)
	_, err := c.Wait(context.Background(), "R1")
	var e *Error
	if !errors.As(err, &e) || e.Status != 403 || len(f.requests()) != 1 {
		t.Fatalf("err = %v after %d requests, want one 403", err, len(f.requests()))
	}
}

func TestDecodeOutputsOfUnfinishedRun(t *testing.T) {
	if _, err := DecodeOutputs[demoOutput](&Run{ID: "R1", Status: RunRunning}); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Errorf("err = %v", err)
	}
	var re *RunError
	if _, err := DecodeOutputs[demoOutput](&Run{ID: "R1", Status: RunCancelled}); !errors.As(err, &re) {
		t.Errorf("err = %v, want a *RunError", err)
	}
}
