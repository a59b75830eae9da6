// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// TestTraceOfOneExecute checks, with an in-memory span exporter, that one
// execute is one trace: the request's server span (continuing the caller's
// traceparent), the run's span as its child, and a span per task attempt
// under the run.
func TestTraceOfOneExecute(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, &tasks{}); err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithTracerProvider(tp))
	defer func() { _ = e.Shutdown(context.Background()) }()
	svc := testService()
	unlimited(&svc)
	srv, err := httpapi.New(e, svc, httpapi.WithGetenv(getenvFrom(testEnv)), httpapi.WithLogger(quietLog), httpapi.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := httptest.NewRequest("POST", "/pipelines/secure_demo_pipeline/execute?wait=5s", strings.NewReader(`{"data":"hello"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", adminKey)
	r.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("execute: %d %s", w.Code, w.Body)
	}
	var request, run *tracetest.SpanStub
	var attempts []tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Name == "POST /pipelines/secure_demo_pipeline/execute":
			request = s
		case s.Name == "run secure_demo_pipeline":
			run = s
		case strings.HasPrefix(s.Name, "task "):
			attempts = append(attempts, *s)
		}
	}
	if request == nil || run == nil || len(attempts) != 2 {
		t.Fatalf("spans: %v", spans.Snapshots())
	}
	if request.SpanKind != trace.SpanKindServer || request.SpanContext.TraceID().String() != callerTrace || request.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("request span %s kind %v trace %s parent %s: want a server span continuing the caller's trace", request.Name, request.SpanKind, request.SpanContext.TraceID(), request.Parent.SpanID())
	}
	if run.Parent.SpanID() != request.SpanContext.SpanID() || run.SpanContext.TraceID() != request.SpanContext.TraceID() {
		t.Errorf("run span's parent %s, want the request span %s", run.Parent.SpanID(), request.SpanContext.SpanID())
	}
	for _, a := range attempts {
		if a.Parent.SpanID() != run.SpanContext.SpanID() || a.SpanContext.TraceID() != run.SpanContext.TraceID() {
			t.Errorf("%s: parent %s, want the run span %s", a.Name, a.Parent.SpanID(), run.SpanContext.SpanID())
		}
	}
	if !attempts[0].StartTime.After(run.StartTime) && !attempts[0].StartTime.Equal(run.StartTime) {
		t.Errorf("an attempt started before its run")
	}
}

// TestMetricsRoute checks who may read GET /metrics (the roles of
// security.metrics, and nobody without credentials), and the second
// listener of security.metrics.listen, which serves only the metrics.
func TestMetricsRoute(t *testing.T) {
	m := telemetry.NewMetrics()
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, &tasks{}); err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithObserver(m))
	defer func() { _ = e.Shutdown(context.Background()) }()
	svc := testService()
	svc.Security.Metrics = &httpapi.MetricsAccess{Roles: []string{"admin"}, Listen: ":0"}
	srv, err := httpapi.New(e, svc, httpapi.WithGetenv(getenvFrom(testEnv)), httpapi.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) (int, string) {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, _ := get(""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, _ := get(viewerKey); code != 403 {
		t.Errorf("viewer: %d", code)
	}
	code, body := get(adminKey)
	if code != 200 || !strings.Contains(body, `taskwire_auth_failures_total{reason="missing"} 1`) || !strings.Contains(body, `taskwire_http_requests_total{code="403",route="metrics"} 1`) {
		t.Errorf("admin: %d\n%s", code, body)
	}
	// The engine's Metrics is the server's: the server counts there.
	if _, err := e.Run(context.Background(), "secure_demo_pipeline", map[string]any{"data": "x"}, runtime.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, body := get(adminKey); !strings.Contains(body, `taskwire_runs_total{pipeline="secure_demo_pipeline",status="succeeded"} 1`) {
		t.Errorf("no run counted:\n%s", body)
	}

	if got := srv.MetricsAddr(); got != "127.0.0.1:0" {
		t.Errorf("MetricsAddr = %q, want loopback for a listen address without host", got)
	}
	// A second server whose listener has a known free port.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	_ = free.Close()
	svc2 := testService()
	svc2.Security.Metrics = &httpapi.MetricsAccess{Roles: []string{"admin"}, Listen: addr}
	srv2, err := httpapi.New(e, svc2, httpapi.WithGetenv(getenvFrom(testEnv)), httpapi.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- srv2.Serve(ctx2, l2, "", "") }()
	defer func() { cancel2(); <-done2 }()
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = http.Get("http://" + addr + "/metrics")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "taskwire_runs_total") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, raw)
	}
	resp, err = http.Get("http://" + addr + "/pipelines")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("the metrics listener serves /pipelines: %d", resp.StatusCode)
	}
}

// TestNoMetricsWithoutSpec checks that a spec without security.metrics
// has no /metrics route.
func TestNoMetricsWithoutSpec(t *testing.T) {
	srv := inProcessServer(t, time.Now(), func(svc *httpapi.Service) { svc.Security.Metrics = nil })
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("X-API-Key", adminKey)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 404 {
		t.Errorf("GET /metrics without security.metrics: %d", w.Code)
	}
	for _, rt := range srv.Routes() {
		if rt.Path == "/metrics" {
			t.Errorf("route %s served without security.metrics", rt.OperationID)
		}
	}
}
