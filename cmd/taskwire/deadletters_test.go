// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/schema"
)

// dlService serves pipeline p (a -> b, b failing for good while broken
// holds) behind one API key, and returns its URL and engine.
func dlService(t *testing.T, broken *atomic.Bool) (string, *runtime.Engine) {
	t.Helper()
	reg := runtime.NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.RegisterTask("a", func(_ context.Context, in runtime.Inputs) (any, error) { return runtime.Input[int](in, "x") }))
	must(reg.RegisterTask("b", func(_ context.Context, in runtime.Inputs) (any, error) {
		if broken.Load() {
			// Marked safe, so that the API shows it and the CLI's
			// one-line rendering of a long error is seen; a task's own
			// text would be shown as "task failed (error id ...)".
			return nil, runtime.Permanent(runtime.PublicError("b is broken\nsecond line"))
		}
		return runtime.Input[int](in, "a_out")
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{
		ID:     "p",
		Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
		Input:  &schema.Schema{Kind: schema.Object, Fields: []schema.Field{{Name: "x", Schema: &schema.Schema{Kind: schema.Int}}}},
		Tasks:  []runtime.Task{{Name: "a", Inputs: []string{"x"}, Output: "a_out"}, {Name: "b", Inputs: []string{"a_out"}, Output: "b_out"}},
	}))
	e := runtime.New(reg)
	svc := httpapi.Service{Title: "dl", OpenAPI: []byte(`{}`), Security: httpapi.Security{
		Enabled: true, APIKey: true, APIKeyHeader: "X-API-Key",
		Keys: []httpapi.Key{{ID: "admin", Env: "DL_KEY", Role: "admin", Pipelines: []string{"*"}}},
	}}
	srv, err := httpapi.New(e, svc, httpapi.WithGetenv(func(string) string { return "sk_cli_test_0123456789abcdefghijkl" }))
	must(err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = e.Shutdown(context.Background())
	})
	return ts.URL, e
}

func TestDeadLettersCommands(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	url, e := dlService(t, &broken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run1, err := e.Run(ctx, "p", map[string]any{"x": 7}, runtime.StartOptions{})
	if err != nil || run1.Status != runtime.RunFailed {
		t.Fatalf("run: %v %+v", err, run1)
	}
	vars := map[string]string{envServiceURL: url, envAPIKey: "sk_cli_test_0123456789abcdefghijkl"}

	var id string
	for { // the worker records the dead letter just after failing the run
		code, out, errOut := runWithEnv(t, vars, "dead-letters", "list", "--format", "json")
		if code != exitOK {
			t.Fatalf("list: %d %s", code, errOut)
		}
		var v struct {
			DeadLetters []struct {
				ID    string `json:"id"`
				RunID string `json:"run_id"`
			} `json:"dead_letters"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("list --format json: %v\n%s", err, out)
		}
		if len(v.DeadLetters) == 1 && v.DeadLetters[0].RunID == run1.ID {
			id = v.DeadLetters[0].ID
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no dead letter listed: %s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out, _ := runWithEnv(t, vars, "dead-letters", "list", "--pipeline", "p")
	if code != exitOK || !strings.Contains(out, "LAST ERROR") || !strings.Contains(out, run1.ID) || !strings.Contains(out, "b is broken ...") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	broken.Store(false)
	code, out, errOut := runWithEnv(t, vars, "dead-letters", "requeue", id)
	if code != exitOK || !strings.Contains(out, "requeued "+id+": run "+run1.ID) {
		t.Fatalf("requeue: %d %s %s", code, out, errOut)
	}
	if r, err := e.Wait(ctx, run1.ID); err != nil || r.Status != runtime.RunSucceeded {
		t.Fatalf("after requeue: %v %+v", err, r)
	}
	if code, _, errOut := runWithEnv(t, vars, "dead-letters", "requeue", id); code != exitInvalid || !strings.Contains(errOut, "404") {
		t.Fatalf("second requeue: %d %s", code, errOut)
	}
	code, out, errOut = runWithEnv(t, vars, "rerun", run1.ID)
	if code != exitOK || !strings.Contains(out, "re-runs "+run1.ID) {
		t.Fatalf("rerun: %d %s %s", code, out, errOut)
	}
	if code, out, _ := runWithEnv(t, vars, "dead-letters", "list"); code != exitOK || !strings.Contains(out, "no dead letters") {
		t.Fatalf("empty list: %d %s", code, out)
	}

	// Errors: no credential (1, with a hint), no service (2), bad usage (2).
	if code, _, errOut := runWithEnv(t, map[string]string{envServiceURL: url}, "dead-letters", "list"); code != exitInvalid || !strings.Contains(errOut, envAPIKey) {
		t.Fatalf("without a key: %d %s", code, errOut)
	}
	if code, _, _ := runWithEnv(t, vars, "dead-letters", "list", "--url", "http://127.0.0.1:1"); code != exitUsage {
		t.Fatalf("no service: %d", code)
	}
	for _, args := range [][]string{{"dead-letters"}, {"dead-letters", "purge"}, {"dead-letters", "requeue"}, {"dead-letters", "list", "--limit", "0"}, {"dead-letters", "list", "--format", "xml"}, {"rerun"}} {
		if code, _, _ := runWithEnv(t, vars, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
