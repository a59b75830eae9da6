// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
)

// A worker process counts the attempts it executes and serves them on
// -metrics-addr; the API process counts the runs it started.
func TestWorkerServesItsMetrics(t *testing.T) {
	s := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := runtime.NewRegistry()
	if err := reg.RegisterTask("work", func(context.Context, runtime.Inputs) (any, error) { return "done", nil }); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPipeline(runtime.Pipeline{ID: "job", Tasks: []runtime.Task{{Name: "work", Output: "o"}}}); err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	_ = free.Close()

	open := func(args ...string) *Config {
		fs := flag.NewFlagSet("svc", flag.ContinueOnError)
		dep := Flags(fs, "metered", func(string) string { return "" })
		if err := fs.Parse(append([]string{"-broker", s.ClientURL()}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := dep.Open(ctx, quiet); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dep.Close() })
		return dep
	}
	worker := open("-role", "worker", "-metrics-addr", addr)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- worker.RunWorker(wctx, reg, 2) }()
	defer func() { stop(); <-done }()

	api := open("-role", "api")
	e := runtime.New(reg, api.EngineOptions()...)
	defer e.Shutdown(context.Background())
	for range 3 {
		if r, err := e.Run(ctx, "job", nil, runtime.StartOptions{}); err != nil || r.Status != runtime.RunSucceeded {
			t.Fatalf("run: %+v %v", r, err)
		}
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(raw)
		}
		if strings.Contains(body, `taskwire_tasks_total{status="succeeded",task="work"} 3`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`taskwire_tasks_total{status="succeeded",task="work"} 3`,
		`taskwire_task_duration_seconds_count{task="work"} 3`,
		`taskwire_runs_total{pipeline="job",status="succeeded"} 3`, // the worker recorded the ends
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("worker metrics lack %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "taskwire_runs_in_progress{") {
		t.Error("the worker reports runs in progress; only the process that starts runs does")
	}
	// The API process started the runs and saw them end: none in progress.
	if got := testutilGauge(t, api, "job"); got != 0 {
		t.Errorf("API runs_in_progress = %v after the runs ended", got)
	}
}

// testutilGauge reads runs_in_progress of pipeline from c's metrics.
func testutilGauge(t *testing.T, c *Config, pipeline string) float64 {
	t.Helper()
	fams, err := c.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "taskwire_runs_in_progress" {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "pipeline" && l.GetValue() == pipeline {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no runs_in_progress for %s", pipeline)
	return 0
}
