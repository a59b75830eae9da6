// SPDX-License-Identifier: Apache-2.0

package telemetry_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTracingEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
	} {
		if got := telemetry.TracingEnabled(env(c.env)); got != c.want {
			t.Errorf("TracingEnabled(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

func TestNewTracerProvider(t *testing.T) {
	ctx := context.Background()
	tp, err := telemetry.NewTracerProvider(ctx, "svc", env(nil))
	if tp != nil || err != nil {
		t.Errorf("off: %v %v, want nil and no error", tp, err)
	}
	for _, bad := range []map[string]string{
		{"OTEL_TRACES_EXPORTER": "zipkin"},
		{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
	} {
		if _, err := telemetry.NewTracerProvider(ctx, "svc", env(bad)); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%v: err %v, want not supported", bad, err)
		}
	}
	tp, err = telemetry.NewTracerProvider(ctx, "svc", env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}))
	if err != nil || tp == nil {
		t.Fatalf("on: %v %v", tp, err)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = tp.Shutdown(sctx) // the collector is absent: the flush may fail, never hang
}

// TestMetricsExposition checks the families and labels the observers fill.
func TestMetricsExposition(t *testing.T) {
	m := telemetry.NewMetrics()
	var obs runtime.Observer = m
	obs.RunInProgress("p", 1)
	obs.RunInProgress("p", -1)
	obs.RunEnded("p", runtime.RunFailed, 2*time.Second)
	obs.TaskEnded("p", "t", "retrying")
	obs.TaskEnded("p", "t", "failed")
	obs.AttemptDone("p", "t", 10*time.Millisecond)
	rt := m.Route("list_pipelines")
	if m.Route("list_pipelines") != rt {
		t.Error("Route resolves twice")
	}
	rt.Request(200, time.Millisecond)
	rt.Request(429, time.Millisecond)
	rt.RateLimited()
	m.AuthFailure(telemetry.ReasonExpired)
	m.Written(3)
	m.Synced(time.Millisecond)
	m.Failed()
	m.Checkpointed(audit.Checkpoint{Seq: 47, Time: time.Unix(1796000000, 500000000)})
	m.ReloadFailed()

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, line := range []string{
		`taskwire_runs_in_progress{pipeline="p"} 0`,
		`taskwire_runs_total{pipeline="p",status="failed"} 1`,
		`taskwire_run_duration_seconds_sum{pipeline="p"} 2`,
		`taskwire_tasks_total{status="retrying",task="t"} 1`,
		`taskwire_tasks_total{status="failed",task="t"} 1`,
		`taskwire_task_retries_total{task="t"} 1`,
		`taskwire_task_duration_seconds_count{task="t"} 1`,
		`taskwire_http_requests_total{code="200",route="list_pipelines"} 1`,
		`taskwire_http_requests_total{code="429",route="list_pipelines"} 1`,
		`taskwire_http_request_duration_seconds_count{route="list_pipelines"} 2`,
		`taskwire_rate_limited_total{route="list_pipelines"} 1`,
		`taskwire_auth_failures_total{reason="expired"} 1`,
		`taskwire_audit_records_total 3`,
		`taskwire_audit_sync_duration_seconds_count 1`,
		`taskwire_audit_failures_total 1`,
		`taskwire_audit_checkpoint_sequence 47`,
		`taskwire_audit_checkpoint_timestamp_seconds 1.7960000005e+09`,
		`taskwire_credential_reload_failures_total 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("no line %s", line)
		}
	}
}

// Requests counted from many goroutines at once add up across the shards,
// and a duration on a bucket's bound falls in that bucket (le).
func TestRouteCountsAddUp(t *testing.T) {
	m := telemetry.NewMetrics()
	r := m.Route("get_run")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				code := 200
				if i%10 == 0 {
					code = 404 + g%2 // 404 and 405
				}
				r.Request(code, time.Millisecond)
			}
		})
	}
	wg.Wait()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, line := range []string{
		`taskwire_http_requests_total{code="200",route="get_run"} 7200`,
		`taskwire_http_requests_total{code="404",route="get_run"} 400`,
		`taskwire_http_requests_total{code="405",route="get_run"} 400`,
		`taskwire_http_request_duration_seconds_bucket{route="get_run",le="0.0005"} 0`,
		`taskwire_http_request_duration_seconds_bucket{route="get_run",le="0.001"} 8000`,
		`taskwire_http_request_duration_seconds_bucket{route="get_run",le="+Inf"} 8000`,
		`taskwire_http_request_duration_seconds_sum{route="get_run"} 8`,
		`taskwire_http_request_duration_seconds_count{route="get_run"} 8000`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("no line %s in:\n%s", line, body)
		}
	}
}

// BenchmarkRouteRequest measures counting one request, from every core at once.
func BenchmarkRouteRequest(b *testing.B) {
	r := telemetry.NewMetrics().Route("list_pipelines")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Request(200, 3*time.Millisecond)
		}
	})
}
