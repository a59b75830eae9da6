// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"log/slog"
)

// TaskInfo describes one execution of a task: what a task function, or a
// method of a generated Tasks interface, can learn about the call beyond
// its inputs. Read it from the ctx the task receives with TaskInfoFrom.
//
// RunID and Attempt together name an execution, which makes them the
// natural idempotency key for a side effect that a redelivered or retried
// execution must not repeat (docs/scaling.md: tasks run at least once).
type TaskInfo struct {
	// RunID is the id of the run the task executes in.
	RunID string
	// PipelineID is the pipeline of that run.
	PipelineID string
	// Task is the task's name, as the spec writes it.
	Task string
	// Attempt is the 1-based attempt number: above 1 on a retry after a
	// failure, and on a redelivery after the worker running an earlier
	// attempt died.
	Attempt int
	// Index is the element of a map task execution, or -1.
	Index int
	// Logger logs to the logger of the engine or worker running the task
	// (WithLogger; slog.Default otherwise) with the run, pipeline, task and
	// attempt (and index, for a map element) as attributes.
	Logger *slog.Logger
}

// TaskInfoFrom returns the TaskInfo of the task execution ctx belongs to
// (the ctx the runtime passes a task, or one derived from it), and true.
// For any other ctx it returns a TaskInfo with Index -1 and Logger
// slog.Default(), and false, so that its Logger is always usable.
func TaskInfoFrom(ctx context.Context) (TaskInfo, bool) {
	if tc, ok := ctx.Value(taskInfoKey{}).(*taskContext); ok {
		info := tc.info
		info.Logger = tc.logger()
		return info, true
	}
	return TaskInfo{Index: -1, Logger: slog.Default()}, false
}

// WithTaskInfo returns a copy of ctx carrying info, for calling task
// methods directly in tests the way the runtime would. TaskInfoFrom then
// returns info with a Logger that adds the execution's attributes to
// info.Logger (slog.Default() when nil).
func WithTaskInfo(ctx context.Context, info TaskInfo) context.Context {
	base := info.Logger
	if base == nil {
		base = slog.Default()
	}
	info.Logger = nil
	return &taskContext{Context: ctx, info: info, base: base}
}

// taskInfoKey is the context key of a task execution's *taskContext.
type taskInfoKey struct{}

// taskContext is the context of one task execution: its parent, plus the
// execution's TaskInfo, in one allocation. The logger with the execution's
// attributes is built only when a task asks for it.
type taskContext struct {
	context.Context
	info TaskInfo // without Logger
	base *slog.Logger
}

// Value returns the taskContext itself for taskInfoKey, and defers to the
// parent for every other key.
func (c *taskContext) Value(key any) any {
	if key == (taskInfoKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *taskContext) logger() *slog.Logger {
	args := []any{"run_id", c.info.RunID, "pipeline", c.info.PipelineID, "task", c.info.Task, "attempt", c.info.Attempt}
	if c.info.Index >= 0 {
		args = append(args, "index", c.info.Index)
	}
	if id := TraceID(c.Context); id != "" {
		args = append(args, "trace_id", id)
	}
	return c.base.With(args...)
}
