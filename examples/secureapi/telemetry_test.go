// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// demoCall makes one request to the demo and returns its status and body.
func demoCall(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestMetricsAfterKnownTraffic runs the demo, sends it traffic whose counts
// are known, and checks them in GET /metrics: requests by route and code,
// authentication failures by reason, runs and tasks by status, audit
// records; that only the admin role may read the metrics; that no label
// value is an id, a key or a path; and that promtool finds the exposition
// clean.
func TestMetricsAfterKnownTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary; skipped with -short")
	}
	base := startDemo(t, buildDemo(t))
	for range 3 {
		if st, raw := demoCall(t, "GET", base+"/pipelines", adminKey, ""); st != 200 {
			t.Fatalf("list pipelines: %d %s", st, raw)
		}
	}
	for range 2 {
		demoCall(t, "GET", base+"/pipelines", "", "")
	}
	demoCall(t, "GET", base+"/pipelines", "sk_test_wrong_0123456789abcdefghijklmnopqrstuvw", "")
	st, raw := demoCall(t, "POST", base+"/pipelines/secure_demo_pipeline/execute?wait=10s", adminKey, `{"data": "hello"}`)
	if st != 200 || !bytes.Contains(raw, []byte(`"succeeded"`)) {
		t.Fatalf("execute: %d %s", st, raw)
	}
	runID := jsonField(t, raw, "run_id")
	demoCall(t, "GET", base+"/no/such/route", adminKey, "")

	if st, raw := demoCall(t, "GET", base+"/metrics", "", ""); st != 401 {
		t.Errorf("metrics without credentials: %d %s", st, raw)
	}
	if st, raw := demoCall(t, "GET", base+"/metrics", viewerKey, ""); st != 403 {
		t.Errorf("metrics for a viewer: %d %s", st, raw)
	}
	// Scrape until the audit log has synced once (in interval mode, within
	// 50ms of its first write).
	var text []byte
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; {
		var st int
		st, text = demoCall(t, "GET", base+"/metrics", adminKey, "")
		if st != 200 {
			t.Fatalf("metrics for the admin: %d %s", st, text)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		var err error
		if fams, err = parser.TextToMetricFamilies(bytes.NewReader(text)); err != nil {
			t.Fatalf("parse the metrics: %v\n%s", err, text)
		}
		if f := fams["taskwire_audit_sync_duration_seconds"]; f != nil && len(f.Metric) == 1 && f.Metric[0].GetHistogram().GetSampleCount() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	value := func(name string, labels ...string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Errorf("no metric %s", name)
			return -1
		}
		var sum float64
		found := false
	metrics:
		for _, m := range f.Metric {
			for i := 0; i < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue metrics
				}
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		if !found {
			return 0
		}
		return sum
	}
	want := []struct {
		name   string
		labels []string
		n      float64
	}{
		{"taskwire_http_requests_total", []string{"route", "list_pipelines", "code", "200"}, 3},
		{"taskwire_http_requests_total", []string{"route", "list_pipelines", "code", "401"}, 3},
		{"taskwire_http_requests_total", []string{"route", "execute_secure_demo_pipeline", "code", "200"}, 1},
		{"taskwire_http_requests_total", []string{"route", "unrouted", "code", "404"}, 1},
		{"taskwire_http_requests_total", []string{"route", "metrics", "code", "401"}, 1},
		{"taskwire_http_requests_total", []string{"route", "metrics", "code", "403"}, 1},
		{"taskwire_http_request_duration_seconds", []string{"route", "list_pipelines"}, 6},
		{"taskwire_auth_failures_total", []string{"reason", "missing"}, 3},
		{"taskwire_auth_failures_total", []string{"reason", "invalid"}, 1},
		{"taskwire_runs_total", []string{"pipeline", "secure_demo_pipeline", "status", "succeeded"}, 1},
		{"taskwire_run_duration_seconds", []string{"pipeline", "secure_demo_pipeline"}, 1},
		{"taskwire_tasks_total", []string{"task", "process_data", "status", "succeeded"}, 1},
		{"taskwire_tasks_total", []string{"task", "validate_result", "status", "succeeded"}, 1},
		{"taskwire_task_duration_seconds", []string{"task", "process_data"}, 1},
		{"taskwire_runs_in_progress", []string{"pipeline", "secure_demo_pipeline"}, 0},
		{"taskwire_rate_limited_total", nil, 0},
		{"taskwire_audit_failures_total", nil, 0},
	}
	for _, w := range want {
		if got := value(w.name, w.labels...); got != w.n {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.n)
		}
	}
	// Every request that presented a credential has its record (the three
	// lists, the wrong key, the execute and its intent, the viewer's
	// scrape), and the first anonymous one; the other anonymous requests
	// (no key, an unknown route) are counted in a summary written when
	// their window closes. Syncs were timed.
	if got := value("taskwire_audit_records_total"); got < 8 {
		t.Errorf("audit_records_total = %v, want at least the 7 records of requests with credentials and the first anonymous one", got)
	}
	if got := value("taskwire_audit_sync_duration_seconds"); got < 1 {
		t.Errorf("audit_sync_duration_seconds has %v observations, want some", got)
	}
	for _, family := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[family] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", family)
		}
	}

	// Bounded labels: names and status words, never an id, a key or a path.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				v := lp.GetValue()
				if strings.Contains(v, "/") || strings.Contains(v, runID) || strings.Contains(v, "sk_") || len(v) > 64 {
					t.Errorf("%s has label %s=%q: labels must be bounded names", name, lp.GetName(), v)
				}
			}
		}
	}
	promtoolCheck(t, text)
}

// labelValue returns the value of m's label name, or "".
func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.Label {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// promtoolCheck runs promtool check metrics on an exposition. promtool
// (Debian package prometheus) is required in CI, which installs it;
// elsewhere the check is skipped when it is missing.
func promtoolCheck(t *testing.T, text []byte) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install -y prometheus); CI must check the metrics with it")
		}
		t.Log("promtool not installed; skipping promtool check metrics")
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// jsonField returns the string field name of a JSON object, or fails.
func jsonField(t *testing.T, raw []byte, name string) string {
	t.Helper()
	i := bytes.Index(raw, []byte(`"`+name+`":"`))
	if i < 0 {
		t.Fatalf("no %s in %s", name, raw)
	}
	rest := raw[i+len(name)+4:]
	j := bytes.IndexByte(rest, '"')
	return string(rest[:j])
}

// collector is an OTLP/HTTP trace receiver: it keeps the spans processes
// export to it, with the process id of their resource.
type collector struct {
	mu    sync.Mutex
	spans []collected
}

type collected struct {
	pid  int64
	span *tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		var pid int64
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "process.pid" {
				pid = a.GetValue().GetIntValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, collected{pid: pid, span: s})
			}
		}
	}
	c.mu.Unlock()
	resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (c *collector) snapshot() []collected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]collected(nil), c.spans...)
}

// TestTraceAcrossProcesses runs the demo as an API process and a worker
// process on JetStream, both exporting spans over OTLP (configured only by
// the standard OTEL_* variables) to a collector in the test, and checks
// that one execute is one trace: the API's request span, its child the run
// span, and under the run one span per task attempt, exported by the
// worker process.
func TestTraceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary; skipped with -short")
	}
	col := &collector{}
	otlp := httptest.NewServer(col)
	defer otlp.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	t.Setenv("OTEL_SERVICE_NAME", "securedemo-test")

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
	startWorker(t, bin, ns.ClientURL())

	st, raw := demoCall(t, "POST", base+"/pipelines/secure_demo_pipeline/execute?wait=20s", adminKey, `{"data": "traced"}`)
	if st != 200 || !bytes.Contains(raw, []byte(`"succeeded"`)) {
		t.Fatalf("execute: %d %s", st, raw)
	}
	runID := jsonField(t, raw, "run_id")

	attr := func(s *tracepb.Span, key string) string {
		for _, a := range s.Attributes {
			if a.Key == key {
				if v, ok := a.Value.Value.(*commonpb.AnyValue_IntValue); ok {
					return strconv.FormatInt(v.IntValue, 10)
				}
				return a.Value.GetStringValue()
			}
		}
		return ""
	}
	var request, run collected
	var tasks []collected
	deadline := time.Now().Add(15 * time.Second)
	for {
		request, run, tasks = collected{}, collected{}, nil
		for _, c := range col.snapshot() {
			switch {
			case c.span.Name == "POST /pipelines/secure_demo_pipeline/execute":
				request = c
			case c.span.Name == "run secure_demo_pipeline" && attr(c.span, "taskwire.run_id") == runID:
				run = c
			case strings.HasPrefix(c.span.Name, "task ") && attr(c.span, "taskwire.run_id") == runID:
				tasks = append(tasks, c)
			}
		}
		if request.span != nil && run.span != nil && len(tasks) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if request.span == nil || run.span == nil || len(tasks) < 2 {
		t.Fatalf("spans collected: request %v, run %v, %d task spans of run %s; all: %d", request.span != nil, run.span != nil, len(tasks), runID, len(col.snapshot()))
	}
	trace := hex.EncodeToString(request.span.TraceId)
	if request.span.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span kind %v, want server", request.span.Kind)
	}
	if got := hex.EncodeToString(run.span.TraceId); got != trace || !bytes.Equal(run.span.ParentSpanId, request.span.SpanId) {
		t.Errorf("run span: trace %s parent %x, want trace %s parent %x (the request)", got, run.span.ParentSpanId, trace, request.span.SpanId)
	}
	if run.pid != request.pid {
		t.Errorf("run span from process %d, request span from %d: the API process starts both", run.pid, request.pid)
	}
	if attr(run.span, "taskwire.status") != "succeeded" {
		t.Errorf("run span status %q", attr(run.span, "taskwire.status"))
	}
	names := map[string]bool{}
	for _, c := range tasks {
		names[c.span.Name] = true
		if got := hex.EncodeToString(c.span.TraceId); got != trace || !bytes.Equal(c.span.ParentSpanId, run.span.SpanId) {
			t.Errorf("%s: trace %s parent %x, want trace %s parent %x (the run)", c.span.Name, got, c.span.ParentSpanId, trace, run.span.SpanId)
		}
		if c.pid == request.pid || c.pid == 0 {
			t.Errorf("%s exported by process %d, the API's; want the worker's", c.span.Name, c.pid)
		}
		if attr(c.span, "taskwire.attempt") != "1" {
			t.Errorf("%s attempt %q", c.span.Name, attr(c.span, "taskwire.attempt"))
		}
	}
	if !names["task process_data"] || !names["task validate_result"] {
		t.Errorf("task spans %v, want process_data and validate_result", names)
	}
}
