// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// failingTasks fail process_data as their input says: with a secret in the
// error, with a secret in a panic, or with an error marked safe to show.
type failingTasks struct{ *tasks }

func (failingTasks) ProcessData(ctx context.Context, data string) (securedemo.Result, error) {
	switch data {
	case "secret":
		return securedemo.Result{}, runtime.Permanent(errors.New("connect: db password hunter2 refused"))
	case "panic":
		panic("boom with hunter2 inside")
	default:
		return securedemo.Result{}, runtime.Permanent(runtime.PublicError("quota exceeded for customer 42"))
	}
}

// Over HTTP, a task's own error text and panic value never reach a client
// (run view, events, dead letters): clients get a stable message with an
// error id, and the server's log has that id next to the full text. An
// error the task marked safe is shown as it is.
func TestTaskErrorsAreRedacted(t *testing.T) {
	var logs testutil.Buffer
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, failingTasks{&tasks{}}); err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	srv, err := httpapi.New(e, testService(), httpapi.WithGetenv(getenvFrom(testEnv)), httpapi.WithLogger(quietLog),
		httpapi.WithAuthFailureLimit(httpapi.Rate{N: 1 << 20, Per: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: srv, ts: httptest.NewServer(srv), clock: newClock(), impl: &tasks{}}
	t.Cleanup(f.ts.Close)
	admin := []string{key(adminKey)}
	idRE := regexp.MustCompile(`task failed \(error id ([A-Z0-9]+)\)`)

	for _, input := range []string{"secret", "panic"} {
		t.Run(input, func(t *testing.T) {
			r := f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute?wait=10s", body: fmt.Sprintf(`{"data":%q}`, input), headers: admin}, http.StatusOK)
			var run struct {
				RunID  string `json:"run_id"`
				Status string `json:"status"`
				Error  string `json:"error"`
				Tasks  map[string]struct {
					Error string `json:"error"`
				} `json:"tasks"`
			}
			r.json(t, &run)
			if run.Status != "failed" {
				t.Fatalf("run %s, want failed: %s", run.Status, r.Body)
			}
			m := idRE.FindStringSubmatch(run.Tasks["process_data"].Error)
			if m == nil {
				t.Fatalf("task error %q has no error id", run.Tasks["process_data"].Error)
			}
			id := m[1]
			if !strings.Contains(run.Error, id) {
				t.Errorf("run error %q lacks the task's error id %s", run.Error, id)
			}
			for what, body := range map[string][]byte{
				"execute":      r.Body,
				"run":          f.want(t, req{path: "/runs/" + run.RunID, headers: admin}, http.StatusOK).Body,
				"runs":         f.want(t, req{path: "/runs", headers: admin}, http.StatusOK).Body,
				"events":       f.want(t, req{path: "/runs/" + run.RunID + "/events", headers: admin}, http.StatusOK).Body,
				"dead letters": f.want(t, req{path: "/dead-letters", headers: admin}, http.StatusOK).Body,
			} {
				if strings.Contains(string(body), "hunter2") {
					t.Errorf("%s shows the task's secret: %s", what, body)
				}
				if what != "runs" && !strings.Contains(string(body), id) {
					t.Errorf("%s lacks the error id %s: %s", what, id, body)
				}
			}
			// The log has the id with the full text (and a panic's stack).
			var line string
			for _, l := range logs.Lines(id) {
				if strings.Contains(l, "hunter2") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no log line has error id %s with the full error; log:\n%s", id, strings.Join(logs.Lines(), "\n"))
			}
			if input == "panic" && !strings.Contains(line, "goroutine") && !strings.Contains(line, ".go:") {
				t.Errorf("the panic's log line has no stack: %s", line)
			}
		})
	}
	t.Run("public", func(t *testing.T) {
		r := f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute?wait=10s", body: `{"data":"public"}`, headers: admin}, http.StatusOK)
		if !strings.Contains(string(r.Body), "quota exceeded for customer 42") {
			t.Errorf("the error marked safe is not shown: %s", r.Body)
		}
		if idRE.Match(r.Body) {
			t.Errorf("the error marked safe was replaced: %s", r.Body)
		}
	})
}
