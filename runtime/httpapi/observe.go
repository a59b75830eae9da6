// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// WithMetrics makes the server count its requests, authentication
// failures, 429s and audit records in m, and serve m at GET /metrics to
// the roles of the spec's security.metrics. Give the engine the same m
// (runtime.WithObserver) to count its runs and tasks there too; without
// WithMetrics, the server uses the engine's Metrics if it has one, and
// otherwise makes its own when the spec enables metrics.
func WithMetrics(m *telemetry.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithTracerProvider makes the server trace every request with a span of
// tp, continuing the caller's W3C traceparent; execute requests are the
// parents of their runs' spans when the engine traces too
// (runtime.WithTracerProvider). Without it nothing is traced.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracer = tp.Tracer(TracerName)
		}
	}
}

// TracerName is the instrumentation name of the server's spans.
const TracerName = "github.com/taskwire/taskwire/runtime/httpapi"

// serverMetrics decides the server's Metrics: the one given, the engine's,
// or a new one when the spec enables metrics; nil when metrics are off.
func serverMetrics(c *config, e *runtime.Engine, svc Service) *telemetry.Metrics {
	if c.metrics != nil {
		return c.metrics
	}
	if m, ok := e.Observer().(*telemetry.Metrics); ok {
		return m
	}
	if svc.Security.Metrics != nil {
		return telemetry.NewMetrics()
	}
	return nil
}

var propagator propagation.TraceContext

// startSpan starts the server span of a request, continuing the caller's
// trace (W3C traceparent), and returns the request with it.
func (s *Server) startSpan(r *http.Request, name, path string) (*http.Request, trace.Span) {
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", path),
			attribute.String("url.scheme", scheme(r)),
		))
	return r.WithContext(ctx), span
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// observe counts a request that was answered and ends its span.
func (s *Server) observe(rm *telemetry.Route, span trace.Span, info *requestInfo, began time.Time) {
	code := info.answered()
	if rm != nil {
		rm.Request(code, time.Since(began))
		if code == http.StatusTooManyRequests {
			rm.RateLimited()
		}
	}
	if span != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", code), attribute.String("taskwire.request_id", info.RequestID))
		if info.PipelineID != "" {
			span.SetAttributes(runtime.AttrPipeline.String(info.PipelineID))
		}
		if info.RunID != "" {
			span.SetAttributes(runtime.AttrRunID.String(info.RunID))
		}
		if info.Principal != nil && info.Principal.ID != "" {
			span.SetAttributes(attribute.String("enduser.id", info.Principal.ID))
		}
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		span.End()
	}
}

// answered returns the status code the request was answered with.
func (i *requestInfo) answered() int {
	switch {
	case i.aw.s != nil && i.aw.failed:
		return http.StatusServiceUnavailable
	case i.aw.s != nil && i.aw.status != 0:
		return i.aw.status
	case i.sw.status != 0:
		return i.sw.status
	}
	return http.StatusOK
}

// failureReason is the auth_failures_total reason of an authentication error.
func failureReason(err error) string {
	switch {
	case errors.Is(err, errNoCredentials):
		return telemetry.ReasonMissing
	case errors.Is(err, errExpiredKey), errors.Is(err, errExpiredToken):
		return telemetry.ReasonExpired
	case errors.Is(err, errSeveralKeys), errors.Is(err, errConflictingIdentity):
		return telemetry.ReasonRejected
	}
	return telemetry.ReasonInvalid
}

// metricsPage serves the metrics to a principal with a role the spec's
// security.metrics names (anyone when security is off).
func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) {
	if s.svc.Security.Enabled && !s.mayScrape(PrincipalFrom(r)) {
		writeProblem(w, r, http.StatusForbidden, "not allowed to read metrics; security.metrics.roles names the roles that may")
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}

// mayScrape reports whether p has a role allowed to read the metrics.
func (s *Server) mayScrape(p *Principal) bool {
	if p == nil || s.svc.Security.Metrics == nil {
		return false
	}
	for _, role := range p.Roles {
		if slices.Contains(s.svc.Security.Metrics.Roles, role) {
			return true
		}
	}
	return false
}

// logAttrs are the attributes of a log record about request r: its
// request id, and its run id and trace id where known.
func logAttrs(r *http.Request) []any {
	args := make([]any, 0, 8)
	if info := infoFrom(r); info != nil {
		args = append(args, "request_id", info.RequestID)
		if info.RunID != "" {
			args = append(args, "run_id", info.RunID)
		}
	}
	if id := runtime.TraceID(r.Context()); id != "" {
		args = append(args, "trace_id", id)
	}
	return args
}
