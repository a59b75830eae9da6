// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// TaskFunc is the function bound to a task. It receives the task's inputs
// and returns its output, which must be JSON-serialisable so that it can
// cross processes. Returning an error fails the attempt: it is retried
// according to the task's RetryPolicy unless it is Permanent. ctx is
// cancelled when the run is cancelled or fails, when the task or pipeline
// timeout expires, and on engine shutdown. ctx also carries the
// execution's TaskInfo (run, pipeline, task, attempt, map index and a
// logger): read it with TaskInfoFrom.
//
// Generated code binds each task with a small typed adapter:
//
//	reg.RegisterTask("process_data", func(ctx context.Context, in runtime.Inputs) (any, error) {
//		data, err := runtime.Input[string](in, "data")
//		if err != nil {
//			return nil, err
//		}
//		return impl.ProcessData(ctx, data)
//	})
type TaskFunc func(ctx context.Context, in Inputs) (any, error)

// Inputs gives a task function its input values by name. For a map task the
// map input holds the current element. Its RunID, Attempt and Index are
// also in the TaskInfo of the task's ctx (TaskInfoFrom), which is what the
// typed methods of generated code read.
type Inputs struct {
	names   []string
	vals    []Value
	runID   string
	attempt int
	index   int
}

// Value returns the named input and whether the task has it.
func (in Inputs) Value(name string) (Value, bool) {
	for i, n := range in.names {
		if n == name {
			return in.vals[i], true
		}
	}
	return Value{}, false
}

// RunID returns the ID of the run the task executes in.
func (in Inputs) RunID() string { return in.runID }

// Attempt returns the 1-based attempt number of this execution.
func (in Inputs) Attempt() int { return in.attempt }

// Index returns the element index of a map task execution, or -1.
func (in Inputs) Index() int { return in.index }

// Input returns the named input decoded as a T (see Decode). A missing input
// or a decoding failure is returned as a Permanent error wrapping
// ErrMissingInput or ErrDecode: retrying would not fix it.
func Input[T any](in Inputs, name string) (T, error) {
	v, ok := in.Value(name)
	if !ok {
		var zero T
		return zero, Permanent(fmt.Errorf("%w: %q", ErrMissingInput, name))
	}
	t, err := Decode[T](v)
	if err != nil {
		return t, Permanent(fmt.Errorf("input %q: %w", name, err))
	}
	return t, nil
}

// NewInputs returns Inputs holding the given values, for calling and testing
// task functions directly.
func NewInputs(values map[string]any) Inputs {
	in := Inputs{index: -1, attempt: 1}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		in.names = append(in.names, name)
		in.vals = append(in.vals, ValueOf(values[name]))
	}
	return in
}

// Registry maps task names to functions and pipeline IDs to validated
// definitions. The zero value is an empty registry ready to use; it is safe
// for concurrent use. Register every task before the pipelines that use it.
// The API process and every worker process must register the same pipelines.
type Registry struct {
	mu    sync.RWMutex
	funcs map[string]TaskFunc
	plans map[string]*plan
	order []string // pipeline IDs in registration order
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// RegisterTask binds fn to the task name. It fails, wrapping ErrInvalidTask,
// on an empty name, a nil fn or a name already registered.
func (r *Registry) RegisterTask(name string, fn TaskFunc) error {
	if name == "" || fn == nil {
		return fmt.Errorf("%w: task %q: empty name or nil function", ErrInvalidTask, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.funcs[name]; dup {
		return fmt.Errorf("%w: task %q registered twice", ErrInvalidTask, name)
	}
	if r.funcs == nil {
		r.funcs = make(map[string]TaskFunc)
	}
	r.funcs[name] = fn
	return nil
}

// RegisterPipeline validates p and makes it startable. It reports every
// problem at once, each wrapping ErrInvalidPipeline: empty or duplicate
// names, a task with no registered function, an input that is neither a
// pipeline input nor a task output, two producers of one output, a cycle,
// a map over a name that is not an input, negative durations, outputs naming
// nothing produced, and an ID already registered. p is copied.
func (r *Registry) RegisterPipeline(p Pipeline) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	pl, err := compile(p, r.funcs)
	if err != nil {
		return err
	}
	if _, dup := r.plans[p.ID]; dup {
		return fmt.Errorf("%w: pipeline %q registered twice", ErrInvalidPipeline, p.ID)
	}
	if r.plans == nil {
		r.plans = make(map[string]*plan)
	}
	r.plans[p.ID] = pl
	r.order = append(r.order, p.ID)
	return nil
}

// Pipeline returns a copy of the registered pipeline with the given ID.
func (r *Registry) Pipeline(id string) (Pipeline, bool) {
	pl, ok := r.plan(id)
	if !ok {
		return Pipeline{}, false
	}
	return clonePipeline(pl.p), true
}

// Pipelines returns copies of the registered pipelines, in the order they
// were registered.
func (r *Registry) Pipelines() []Pipeline {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Pipeline, len(r.order))
	for i, id := range r.order {
		out[i] = clonePipeline(r.plans[id].p)
	}
	return out
}

func (r *Registry) plan(id string) (*plan, bool) {
	r.mu.RLock()
	pl, ok := r.plans[id]
	r.mu.RUnlock()
	return pl, ok
}

// describe lists the registered pipeline IDs for error messages: sorted,
// quoted, at most ten.
func (r *Registry) describe() string {
	r.mu.RLock()
	ids := slices.Sorted(maps.Keys(r.plans))
	r.mu.RUnlock()
	if len(ids) == 0 {
		return "none"
	}
	more := ""
	if len(ids) > 10 {
		ids, more = ids[:10], fmt.Sprintf(" and %d more", len(ids)-10)
	}
	for i, id := range ids {
		ids[i] = strconv.Quote(id)
	}
	return strings.Join(ids, ", ") + more
}
