// SPDX-License-Identifier: Apache-2.0

// Package telemetry is the metrics and tracing of a generated service:
// Prometheus metrics of the HTTP chain, the engine and workers, the rate
// limiter and the audit log (CONTRACT.md section 6), and an OpenTelemetry
// tracer provider configured from the standard OTEL_* environment.
//
// One Metrics serves one process. Give it to the engine
// (runtime.WithObserver) and to the server (httpapi.WithMetrics), or let
// package deploy do both; a worker process serves it on its own address.
package telemetry

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
)

// Namespace prefixes every metric name.
const Namespace = "taskwire"

// Auth failure reasons, the values of auth_failures_total's reason label.
const (
	ReasonMissing  = "missing"  // no credential was sent
	ReasonInvalid  = "invalid"  // a credential was sent and is not valid
	ReasonExpired  = "expired"  // a credential was valid and has expired
	ReasonRejected = "rejected" // a credential conflicts with another one sent, or is malformed
)

// UnroutedRoute is the route label of requests no route matched (404, 405).
const UnroutedRoute = "unrouted"

// Buckets of the duration histograms, in seconds: from a fast request
// (half a millisecond) to a long run (an hour).
var (
	requestBuckets = [nRequestBuckets]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	taskBuckets    = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}
	syncBuckets    = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
)

// Metrics holds a process's metrics in its own registry. It implements
// runtime.Observer and audit.Observer. The zero value is not usable; call
// NewMetrics. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	http         *httpCollector
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	runs         *prometheus.CounterVec
	runTime      *prometheus.HistogramVec
	tasks        *prometheus.CounterVec
	taskTime     *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	inProgress   *prometheus.GaugeVec
	auditRecords prometheus.Counter
	auditSync    prometheus.Histogram
	auditFails   prometheus.Counter
	auditCPSeq   prometheus.Gauge
	auditCPTime  prometheus.Gauge
	reloadFails  prometheus.Counter
	anonShed     *prometheus.CounterVec
	auditFree    prometheus.Gauge

	mu     sync.Mutex
	routes map[string]*Route
}

// NewMetrics returns the metrics of one process, registered with the Go
// and process collectors in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), routes: map[string]*Route{}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.http = newHTTPCollector()
	m.authFailures = counter("auth_failures_total", "Requests answered 401, by reason (missing, invalid, expired, rejected).", "reason")
	m.rateLimited = counter("rate_limited_total", "Requests answered 429, by route.", "route")
	m.runs = counter("runs_total", "Runs whose end this process recorded, by pipeline and status.", "pipeline", "status")
	m.runTime = histogram("run_duration_seconds", "Time from a run's creation to its end, for the runs this process ended.", taskBuckets, "pipeline")
	m.tasks = counter("tasks_total", "Task outcomes this process recorded: succeeded or failed for good, or retrying after a failed attempt.", "task", "status")
	m.taskTime = histogram("task_duration_seconds", "Time of the task attempts this process executed, whatever their outcome.", taskBuckets, "task")
	m.retries = counter("task_retries_total", "Retries this process scheduled after a failed attempt, by task.", "task")
	m.inProgress = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "runs_in_progress", Help: "Runs this process started that have not ended, by pipeline."}, []string{"pipeline"})
	m.auditRecords = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "audit_records_total", Help: "Audit records written to the log file."})
	m.auditSync = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "audit_sync_duration_seconds", Help: "Time of each sync of the audit log file.", Buckets: syncBuckets})
	m.auditFails = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "audit_failures_total", Help: "Audit records that could not be written (their requests were refused)."})
	m.auditCPSeq = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "audit_checkpoint_sequence", Help: "Sequence number of the audit record of the last checkpoint (a durable record; its hash is in the server log's \"audit checkpoint\" line)."})
	m.auditCPTime = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "audit_checkpoint_timestamp_seconds", Help: "Unix time of the last audit checkpoint."})
	m.reloadFails = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "credential_reload_failures_total", Help: "Reloads of keys and secrets refused as a whole (the previous set stays in use)."})
	m.anonShed = counter("anonymous_shed_total", "Anonymous requests refused before their work: past their address's anonymous limit (429) or on low audit disk (503), by reason.", "reason")
	m.auditFree = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "audit_free_bytes", Help: "Free bytes of the audit log's file system when last read."})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.http, m.authFailures, m.rateLimited,
		m.runs, m.runTime, m.tasks, m.taskTime, m.retries, m.inProgress,
		m.auditRecords, m.auditSync, m.auditFails, m.auditCPSeq, m.auditCPTime, m.reloadFails,
		m.anonShed, m.auditFree,
	)
	return m
}

// Registry returns the registry of the metrics, to add a service's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. It does
// no authentication: the server's /metrics route puts it behind the
// chain; a separate listener must be private (loopback by default).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Route is the request metrics of one route, resolved once so that
// counting a request costs no label lookup (see http.go).
type Route struct {
	name        string
	rateLimited prometheus.Counter
	shards      [shards]routeShard

	slots  sync.Map // status code -> slot
	slotMu sync.Mutex
	codes  []int // by slot
}

// Route returns the metrics of the route named name (an operation id, or
// UnroutedRoute).
func (m *Metrics) Route(name string) *Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.routes[name]; ok {
		return r
	}
	r := &Route{name: name, rateLimited: m.rateLimited.WithLabelValues(name)}
	m.routes[name] = r
	m.http.mu.Lock()
	m.http.routes = append(m.http.routes, r)
	m.http.mu.Unlock()
	return r
}

// RateLimited counts a request of the route answered 429.
func (r *Route) RateLimited() { r.rateLimited.Inc() }

// AuthFailure counts a request answered 401 for reason (one of the Reason
// constants).
func (m *Metrics) AuthFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// Reasons of AnonymousShed.
const (
	ShedRateLimited = "rate_limited" // past the address's anonymous limit: 429
	ShedLowDisk     = "low_disk"     // the audit log's disk is low: 503
)

// AnonymousShed counts an anonymous request refused before its work, for
// reason (ShedRateLimited or ShedLowDisk).
func (m *Metrics) AnonymousShed(reason string) { m.anonShed.WithLabelValues(reason).Inc() }

// AuditFreeBytes sets the audit log's free space as last read.
func (m *Metrics) AuditFreeBytes(free uint64) { m.auditFree.Set(float64(free)) }

// ReloadFailed counts a reload of keys and secrets that was refused as a
// whole.
func (m *Metrics) ReloadFailed() { m.reloadFails.Inc() }

// RunInProgress implements runtime.Observer.
func (m *Metrics) RunInProgress(pipeline string, delta int) {
	m.inProgress.WithLabelValues(pipeline).Add(float64(delta))
}

// RunEnded implements runtime.Observer.
func (m *Metrics) RunEnded(pipeline string, status runtime.RunStatus, took time.Duration) {
	m.runs.WithLabelValues(pipeline, string(status)).Inc()
	m.runTime.WithLabelValues(pipeline).Observe(took.Seconds())
}

// TaskEnded implements runtime.Observer.
func (m *Metrics) TaskEnded(_, task, status string) {
	m.tasks.WithLabelValues(task, status).Inc()
	if status == "retrying" {
		m.retries.WithLabelValues(task).Inc()
	}
}

// AttemptDone implements runtime.Observer.
func (m *Metrics) AttemptDone(_, task string, took time.Duration) {
	m.taskTime.WithLabelValues(task).Observe(took.Seconds())
}

// Written implements audit.Observer.
func (m *Metrics) Written(records int) { m.auditRecords.Add(float64(records)) }

// Synced implements audit.Observer.
func (m *Metrics) Synced(took time.Duration) { m.auditSync.Observe(took.Seconds()) }

// Failed implements audit.Observer.
func (m *Metrics) Failed() { m.auditFails.Inc() }

// Checkpointed implements audit.CheckpointObserver.
func (m *Metrics) Checkpointed(cp audit.Checkpoint) {
	m.auditCPSeq.Set(float64(cp.Seq))
	m.auditCPTime.Set(float64(cp.Time.UnixNano()) / 1e9)
}

var (
	_ runtime.Observer         = (*Metrics)(nil)
	_ audit.Observer           = (*Metrics)(nil)
	_ audit.CheckpointObserver = (*Metrics)(nil)
)
