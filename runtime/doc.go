// SPDX-License-Identifier: Apache-2.0

// Package runtime runs taskwire pipelines: the package generated code calls
// and users import beside their generated package.
//
// A Pipeline describes one pipeline as data (generated code writes one per
// spec pipeline); a Registry binds task functions (TaskFunc) to names and
// validates pipelines; an Engine starts runs, starts each task once its
// inputs exist, retries and times tasks out, and reports events. Generated
// code adds typed wrappers: StartTyped and TypedRun give a pipeline's
// outputs as its generated struct.
//
// Everything the engine keeps goes through a backend (package driver): the
// in-memory driver.Memory by default, or a JetStream backend (package
// natsjs) so that API processes and Workers in other processes share runs.
// Package deploy picks the backend and role of a process from flags; package
// httpapi serves an engine over HTTP; package client is the runtime of the
// generated Go clients; package taskwiretest serves a generated service in
// tests.
//
// A task learns about its execution (run id, pipeline, task, attempt, map
// index and a logger with them as attributes) from its ctx: TaskInfoFrom.
//
// Task functions return Permanent(err) for failures a retry would not fix;
// every error the runtime returns wraps one of the sentinel errors below,
// for errors.Is.
//
// A task's error text, and a panic's value, are recorded with the run and
// logged by the worker that ran the attempt under an error id (Run.ErrorID,
// TaskState.ErrorID); the HTTP API shows clients only "task failed (error
// id ID)". Return SafeError(err) or PublicError(msg), or an error that
// implements PublicMessager, to show a message verbatim.
package runtime
