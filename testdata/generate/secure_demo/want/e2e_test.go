// SPDX-License-Identifier: Apache-2.0

package securedemo

// This file is written by hand (it is not generated): it drives the generated
// secure-demo package through real HTTP and through its typed run handle.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/taskwiretest"
	"github.com/taskwire/taskwire/testdata/generate/secure_demo/want/client"
)

const adminKey = "sk_test_admin_0123456789abcdefghijklmnopqrstuvwxyz"

// demoTasks implements the secure demo's tasks.
type demoTasks struct{}

func (demoTasks) ProcessData(ctx context.Context, data string) (Result, error) {
	return Result{Processed: strings.ToUpper(data), Status: ResultStatusOk}, nil
}

func (demoTasks) ValidateResult(ctx context.Context, result Result) (Validated, error) {
	if result.Status != ResultStatusOk {
		return Validated{}, runtime.Permanent(fmt.Errorf("status is %q, not ok", result.Status))
	}
	return Validated{Processed: result.Processed, Status: string(result.Status), Validated: true}, nil
}

// newServer serves the generated server with test keys, its audit log in a
// temporary directory.
func newServer(t *testing.T) (*httpapi.Server, *httptest.Server) {
	t.Helper()
	t.Chdir(t.TempDir()) // the spec's audit log is a relative path
	keys := map[string]string{
		"TASKWIRE_KEY_ADMIN_FULL":     adminKey,
		"TASKWIRE_KEY_VIEWER_REPORTS": "sk_test_viewer_0123456789abcdefghijklmnopqrstuvwxyz",
	}
	engine, err := NewEngine(demoTasks{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(engine, httpapi.WithGetenv(func(k string) string { return keys[k] }))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	return srv, ts
}

// call sends a request with the admin key and decodes the JSON answer.
func call(t *testing.T, method, url, body string, key string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, url, err, data)
		}
	}
	return resp, out
}

func TestExecuteOverHTTP(t *testing.T) {
	_, ts := newServer(t)
	execute := ts.URL + "/pipelines/secure_demo_pipeline/execute"

	t.Run("wait", func(t *testing.T) {
		resp, run := call(t, "POST", execute+"?wait=5s", `{"data":"hello"}`, adminKey)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200: %v", resp.StatusCode, run)
		}
		if run["status"] != "succeeded" {
			t.Fatalf("run status %v, want succeeded: %v", run["status"], run)
		}
		outputs, _ := run["outputs"].(map[string]any)
		want := map[string]any{"processed": "HELLO", "status": "ok", "validated": true}
		if !reflect.DeepEqual(outputs["validated"], want) {
			t.Errorf("outputs.validated = %v, want %v", outputs["validated"], want)
		}
	})

	t.Run("async", func(t *testing.T) {
		resp, started := call(t, "POST", execute, `{"data":"later"}`, adminKey)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %v", resp.StatusCode, started)
		}
		id, _ := started["run_id"].(string)
		loc := resp.Header.Get("Location")
		if id == "" || loc != "/runs/"+id {
			t.Fatalf("run_id %q, Location %q", id, loc)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, run := call(t, "GET", ts.URL+loc, "", adminKey)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d: %v", loc, resp.StatusCode, run)
			}
			if run["status"] == "succeeded" {
				break
			}
			if run["status"] == "failed" || run["status"] == "cancelled" || time.Now().After(deadline) {
				t.Fatalf("run did not succeed: %v", run)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		resp, problem := call(t, "POST", execute, `{"data":"hello"}`, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401: %v", resp.StatusCode, problem)
		}
	})

	bad := []struct {
		name, body string
		status     int
		path       string
	}{
		{"unknown field", `{"data":"x","extra":1}`, http.StatusBadRequest, ""},
		{"trailing data", `{"data":"x"} {}`, http.StatusBadRequest, ""},
		{"wrong type", `{"data":1}`, http.StatusBadRequest, ""},
		{"too long", `{"data":"` + strings.Repeat("a", 10001) + `"}`, http.StatusUnprocessableEntity, "data"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			resp, problem := call(t, "POST", execute, tc.body, adminKey)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, problem)
			}
			if tc.path == "" {
				return
			}
			errs, _ := problem["errors"].([]any)
			if len(errs) == 0 {
				t.Fatalf("no errors in %v", problem)
			}
			if first, _ := errs[0].(map[string]any); first["path"] != tc.path {
				t.Errorf("errors[0] = %v, want path %q", errs[0], tc.path)
			}
		})
	}
}

func TestTypedHandle(t *testing.T) {
	srv, _ := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	run, err := StartSecureDemoPipeline(ctx, srv.Engine(), SecureDemoPipelineInput{Data: "x"}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.ID() == "" {
		t.Error("run has no ID")
	}
	out, err := run.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Validated{Processed: "X", Status: "ok", Validated: true}); out.Validated != want {
		t.Errorf("outputs = %+v, want %+v", out.Validated, want)
	}
}

func TestTypedHandleFailure(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := Register(reg, failing{}); err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg)
	defer e.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	run, err := StartSecureDemoPipeline(ctx, e, SecureDemoPipelineInput{Data: "x"}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var runErr *runtime.RunError
	if _, err := run.Wait(ctx); !errors.As(err, &runErr) {
		t.Errorf("Wait = %v, want a *runtime.RunError", err)
	}
}

// failing processes data into a failed status, which validate_result refuses.
type failing struct{ demoTasks }

func (failing) ProcessData(ctx context.Context, data string) (Result, error) {
	return Result{Processed: data, Status: ResultStatusFailed}, nil
}

// partial implements only validate_result: process_data is the stub of the
// embedded UnimplementedTasks.
type partial struct{ UnimplementedTasks }

func (partial) ValidateResult(ctx context.Context, result Result) (Validated, error) {
	return demoTasks{}.ValidateResult(ctx, result)
}

// An implementation embedding UnimplementedTasks builds with one method;
// the missing one fails its task at once with an error naming the method.
func TestUnimplementedTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := UnimplementedTasks{}.ProcessData(ctx, "x")
	if !errors.Is(err, runtime.ErrNotImplemented) || !runtime.IsPermanent(err) {
		t.Fatalf("stub error = %v, want a permanent runtime.ErrNotImplemented", err)
	}
	if out, err := (partial{}).ValidateResult(ctx, Result{Processed: "X", Status: ResultStatusOk}); err != nil || !out.Validated {
		t.Fatalf("the written method = %+v, %v", out, err)
	}

	e, err := NewEngine(partial{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	run, err := StartSecureDemoPipeline(ctx, e, SecureDemoPipelineInput{Data: "x"}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var runErr *runtime.RunError
	if _, err := run.Wait(ctx); !errors.As(err, &runErr) {
		t.Fatalf("Wait = %v, want a *runtime.RunError", err)
	}
	r, err := run.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	task := r.Tasks["process_data"]
	// process_data may take 3 attempts, but a missing method is permanent.
	want := `task not implemented: task "process_data" has no implementation; write the method ProcessData of your Tasks implementation`
	if task.Status != runtime.TaskFailed || task.Attempts != 1 || task.Error != want {
		t.Errorf("process_data = %+v, want failed after 1 attempt with %q", task, want)
	}
}

// The generated Run function runs the pipeline in one call, in memory.
func TestRunInOneCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := RunSecureDemoPipeline(ctx, demoTasks{}, SecureDemoPipelineInput{Data: "one call"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Validated{Processed: "ONE CALL", Status: "ok", Validated: true}); out.Validated != want {
		t.Errorf("outputs = %+v, want %+v", out.Validated, want)
	}
	var runErr *runtime.RunError
	if _, err := RunSecureDemoPipeline(ctx, failing{}, SecureDemoPipelineInput{Data: "x"}); !errors.As(err, &runErr) {
		t.Errorf("a failing run = %v, want a *runtime.RunError", err)
	}
}

// The generated client drives the generated server over HTTP, served by
// taskwiretest with keys made for the test.
func TestClientOverHTTP(t *testing.T) {
	engine, err := NewEngine(demoTasks{})
	if err != nil {
		t.Fatal(err)
	}
	srv := taskwiretest.NewServer(t, engine, Service())
	c, err := client.New(srv.URL, client.WithAPIKey(srv.Key("admin_full")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "over http"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.Validated{Processed: "OVER HTTP", Status: "ok", Validated: true}); out.Validated != want {
		t.Errorf("outputs = %+v, want %+v", out.Validated, want)
	}
	viewer, err := client.New(srv.URL, client.WithAPIKey(srv.Key("viewer_reports")))
	if err != nil {
		t.Fatal(err)
	}
	var herr *client.Error
	if _, err := viewer.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "x"}); !errors.As(err, &herr) || herr.Status != http.StatusForbidden {
		t.Errorf("the viewer's run = %v, want a 403 *client.Error", err)
	}
}
