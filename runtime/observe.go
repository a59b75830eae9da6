// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Observer is told about the work of this process's engine and workers, so
// that it can count it (package telemetry's Metrics is one). Each process
// reports its own work: an API process the runs it starts and the
// transitions it records, a worker the attempts it executes. Methods are
// called on the hot path, concurrently: they must be fast and must not
// block. Labels are names from the spec and status words, never ids.
type Observer interface {
	// RunInProgress is called with +1 when this engine starts a run and
	// with -1 when a run it started has ended, wherever it ended.
	RunInProgress(pipeline string, delta int)
	// RunEnded is called when this process records the end of a run that
	// was created took ago.
	RunEnded(pipeline string, status RunStatus, took time.Duration)
	// TaskEnded is called when this process records a task's outcome:
	// "succeeded" or "failed" (for good), or "retrying" (an attempt failed
	// and another follows).
	TaskEnded(pipeline, task, status string)
	// AttemptDone is called when an attempt executed by this process
	// returns, whatever its outcome, after running for took.
	AttemptDone(pipeline, task string, took time.Duration)
}

// WithObserver makes the engine or worker report its work to o.
func WithObserver(o Observer) Option { return func(c *config) { c.obs = o } }

// WithTracerProvider makes the engine and workers trace runs and task
// attempts with tp: a span per run, a child span per attempt, the run's
// span context kept with the run and carried by its task messages, so that
// a worker in another process continues the trace. Without it nothing is
// traced and nothing is spent on it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracer = tp.Tracer(TracerName)
		}
	}
}

// TracerName is the instrumentation name of the runtime's spans.
const TracerName = "github.com/taskwire/taskwire/runtime"

// Span attribute keys of runs and attempts.
const (
	AttrPipeline = attribute.Key("taskwire.pipeline")
	AttrRunID    = attribute.Key("taskwire.run_id")
	AttrTask     = attribute.Key("taskwire.task")
	AttrAttempt  = attribute.Key("taskwire.attempt")
	AttrIndex    = attribute.Key("taskwire.index")
	AttrStatus   = attribute.Key("taskwire.status")
)

var traceContext propagation.TraceContext

// traceParent returns the W3C traceparent of the span in ctx, or "".
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// withTraceParent returns ctx with the remote span context of a W3C
// traceparent (ctx itself when tp is empty or malformed).
func withTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// TraceID returns the trace id of the span in ctx, or "" when ctx is not
// traced, for log records.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// startRunSpan starts the span of a new run as a child of ctx's span and
// records its context with the run.
func (c *config) startRunSpan(ctx context.Context, rec *driver.RunRecord) trace.Span {
	ctx, span := c.tracer.Start(ctx, "run "+rec.PipelineID,
		trace.WithTimestamp(rec.CreatedAt),
		trace.WithAttributes(AttrPipeline.String(rec.PipelineID), AttrRunID.String(rec.ID)))
	rec.Trace = traceParent(ctx)
	return span
}

// endRunSpan ends a run's span with the run's status.
func endRunSpan(span trace.Span, status RunStatus, errText string) {
	if span == nil {
		return
	}
	if status != "" {
		span.SetAttributes(AttrStatus.String(string(status)))
	}
	if status == RunFailed || status == RunCancelled {
		span.SetStatus(codes.Error, errText)
	}
	span.End()
}

// startAttemptSpan starts the span of one attempt, a child of the run's
// span that the message carries.
func (c *config) startAttemptSpan(ctx context.Context, m driver.TaskMessage, attempt int) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{AttrPipeline.String(m.PipelineID), AttrRunID.String(m.RunID), AttrTask.String(m.Task), AttrAttempt.Int(attempt)}
	if m.Index >= 0 {
		attrs = append(attrs, AttrIndex.Int(m.Index))
	}
	return c.tracer.Start(withTraceParent(ctx, m.Trace), "task "+m.Task, trace.WithAttributes(attrs...))
}

// endAttemptSpan ends an attempt's span; err is the task's error.
func endAttemptSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// observeOutcome reports the events of a stored transition to the observer.
func (c *config) observeOutcome(o *outcome) {
	for i := range o.events {
		ev := &o.events[i]
		switch ev.Type {
		case EventTaskSucceeded:
			c.obs.TaskEnded(ev.PipelineID, ev.Task, "succeeded")
		case EventTaskFailed:
			c.obs.TaskEnded(ev.PipelineID, ev.Task, "failed")
		case EventTaskRetrying:
			c.obs.TaskEnded(ev.PipelineID, ev.Task, "retrying")
		case EventRunSucceeded, EventRunFailed, EventRunCancelled:
			c.obs.RunEnded(ev.PipelineID, runStatusOf(ev.Type), ev.Time.Sub(o.created))
		}
	}
}
