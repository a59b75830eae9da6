// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/taskwire/taskwire/runtime/schema"
)

// DefaultMapConcurrency is the number of elements of a map task that run at
// once when Task.MapConcurrency is zero.
const DefaultMapConcurrency = 8

// Pipeline describes a pipeline as plain data: the tasks it runs, how their
// inputs and outputs connect, and the types of its inputs and outputs.
// Generated code writes one per spec pipeline and registers it with
// Registry.RegisterPipeline; it is the only description of the pipeline:
// the engine runs it, the HTTP layer serves it (GET /pipelines/{id},
// execute) and package graph draws it.
type Pipeline struct {
	// ID names the pipeline; it must be unique within a Registry.
	ID string
	// Description is the spec's description of the pipeline.
	Description string
	// Tasks are the tasks of the pipeline, in topological order for
	// display (the engine accepts any order).
	Tasks []Task
	// Inputs are the pipeline inputs, the values a run is started with.
	Inputs []Field
	// Outputs are the values a succeeded run returns; empty means every
	// task output.
	Outputs []Field
	// Timeout bounds a whole run; zero means no limit.
	Timeout time.Duration
	// Retention bounds how long and how many of the pipeline's finished
	// runs are kept (see Engine.EnforceRetention); the zero value keeps
	// them, up to the backend's own limits.
	Retention Retention
	// Input is the schema of the inputs as one JSON object (the body of an
	// execute request), which the HTTP layer validates requests with; nil
	// means the pipeline is not served over HTTP.
	Input *schema.Schema
}

// Field is a named, typed value: a pipeline input or output.
type Field struct {
	Name string `json:"name"`
	// Type is the value's type as the spec writes it ("string", "[]Item").
	Type string `json:"type"`
	// Required is false for an optional value (T? in the spec).
	Required bool `json:"required"`
}

// Task is one task of a pipeline. Its function is looked up in the Registry
// by Name.
type Task struct {
	// Name names the task and the TaskFunc that implements it.
	Name string `json:"name"`
	// Inputs names the values the task reads: each is a pipeline input or
	// another task's Output.
	Inputs []string `json:"inputs"`
	// Output names the value the task produces.
	Output string `json:"output"`
	// Type is the output's type as the spec writes it.
	Type string `json:"type"`
	// Timeout bounds one attempt of the task (one element for a map task);
	// zero means no limit. At the timeout the attempt is over whatever the
	// function does: its context is done, the attempt fails with
	// ErrTaskTimeout (retried as Retry says), and whatever the function
	// returns afterwards is discarded and logged. A function that ignores
	// its context keeps running on a goroutine of its own until it
	// returns; the worker slot it held is free at the timeout.
	Timeout time.Duration `json:"-"`
	// Retry says how failed attempts are retried.
	Retry RetryPolicy `json:"-"`
	// Map, when set, names the list input the task fans out over: the
	// function runs once per element, with that input replaced by the
	// element, and the output is the list of results in input order.
	Map string `json:"map,omitempty"`
	// MapConcurrency bounds how many elements of a map task run at once;
	// zero means DefaultMapConcurrency.
	MapConcurrency int `json:"-"`
}

// RetryPolicy says how a failing task is retried. The zero value runs each
// task once.
type RetryPolicy struct {
	// Attempts is the total number of attempts, the first included; values
	// below 1 mean 1.
	Attempts int `json:"attempts,omitempty"`
	// Backoff is the delay before the second attempt; each later retry
	// doubles it. Jitter spreads each delay over [d/2, d].
	Backoff time.Duration `json:"backoff,omitempty"`
	// MaxBackoff caps the delay between attempts; zero means no cap.
	MaxBackoff time.Duration `json:"max_backoff,omitempty"`
}

// plan is a validated pipeline compiled for execution.
type plan struct {
	p       Pipeline
	tasks   []planTask
	index   map[string]int // task name -> position in tasks
	inputs  map[string]bool
	outputs []string
}

type planTask struct {
	def       Task
	fn        TaskFunc
	deps      []int // producer tasks, without duplicates
	consumers []int // tasks that read this task's output
	mapSlot   int   // position of the map input in def.Inputs, or -1
	mapConc   int
}

// compile validates p against the task functions in funcs and returns its
// plan. Every problem is reported, joined, each wrapping ErrInvalidPipeline.
func compile(p Pipeline, funcs map[string]TaskFunc) (*plan, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: pipeline %q: %s", ErrInvalidPipeline, p.ID, fmt.Sprintf(format, args...)))
	}
	if p.ID == "" {
		bad("empty pipeline ID")
	}
	if len(p.Tasks) == 0 {
		bad("no tasks")
	}
	if p.Timeout < 0 {
		bad("negative timeout %s", p.Timeout)
	}
	if p.Retention.MaxAge < 0 || p.Retention.MaxRuns < 0 {
		bad("negative retention (max_age %s, max_runs %d)", p.Retention.MaxAge, p.Retention.MaxRuns)
	}
	pl := &plan{
		p:      clonePipeline(p),
		tasks:  make([]planTask, len(p.Tasks)),
		index:  make(map[string]int, len(p.Tasks)),
		inputs: make(map[string]bool, len(p.Inputs)),
	}
	for _, in := range p.Inputs {
		if in.Name == "" {
			bad("empty input name")
		} else if pl.inputs[in.Name] {
			bad("input %q declared twice", in.Name)
		}
		pl.inputs[in.Name] = true
	}
	producer := make(map[string]int, len(p.Tasks))
	for i, t := range pl.p.Tasks {
		pt := &pl.tasks[i]
		pt.def, pt.mapSlot = t, -1
		switch _, dup := pl.index[t.Name]; {
		case t.Name == "":
			bad("task %d has no name", i)
		case dup:
			bad("task %q listed twice", t.Name)
		default:
			pl.index[t.Name] = i
		}
		if fn := funcs[t.Name]; fn != nil {
			pt.fn = fn
		} else if t.Name != "" {
			bad("task %q has no registered function (RegisterTask it first)", t.Name)
		}
		switch prev, dup := producer[t.Output]; {
		case t.Output == "":
			bad("task %q has no output name", t.Name)
		case dup:
			bad("output %q is produced by two tasks, %q and %q", t.Output, pl.p.Tasks[prev].Name, t.Name)
		case pl.inputs[t.Output]:
			bad("output %q of task %q has the name of a pipeline input", t.Output, t.Name)
		default:
			producer[t.Output] = i
		}
		if t.Timeout < 0 || t.Retry.Backoff < 0 || t.Retry.MaxBackoff < 0 || t.MapConcurrency < 0 {
			bad("task %q has a negative timeout, backoff or map concurrency", t.Name)
		}
		pt.mapConc = t.MapConcurrency
		if pt.mapConc == 0 {
			pt.mapConc = DefaultMapConcurrency
		}
		if t.Map != "" {
			pt.mapSlot = slices.Index(t.Inputs, t.Map)
			if pt.mapSlot < 0 {
				bad("task %q maps over %q, which is not one of its inputs", t.Name, t.Map)
			}
		}
	}
	for i, t := range pl.p.Tasks {
		seen := make(map[string]bool, len(t.Inputs))
		for _, in := range t.Inputs {
			if seen[in] {
				bad("task %q reads input %q twice", t.Name, in)
				continue
			}
			seen[in] = true
			if j, ok := producer[in]; ok {
				if j == i {
					bad("task %q reads its own output %q", t.Name, in)
					continue
				}
				if !slices.Contains(pl.tasks[i].deps, j) {
					pl.tasks[i].deps = append(pl.tasks[i].deps, j)
					pl.tasks[j].consumers = append(pl.tasks[j].consumers, i)
				}
			} else if !pl.inputs[in] {
				bad("task %q input %q is neither a pipeline input nor produced by a task", t.Name, in)
			}
		}
	}
	if cyc := pl.cycle(); cyc != nil {
		bad("cycle: %s", strings.Join(cyc, " -> "))
	}
	for _, o := range pl.p.Outputs {
		pl.outputs = append(pl.outputs, o.Name)
		if _, ok := producer[o.Name]; !ok {
			bad("output %q is produced by no task", o.Name)
		}
	}
	if len(pl.outputs) == 0 {
		for _, t := range pl.p.Tasks {
			pl.outputs = append(pl.outputs, t.Output)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pl, nil
}

// cycle returns the task names of one dependency cycle, or nil.
func (pl *plan) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(pl.tasks))
	var stack []int
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, c := range pl.tasks[i].consumers {
			switch color[c] {
			case grey:
				start := slices.Index(stack, c)
				for _, s := range stack[start:] {
					found = append(found, pl.tasks[s].def.Name)
				}
				found = append(found, pl.tasks[c].def.Name)
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range pl.tasks {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

func clonePipeline(p Pipeline) Pipeline {
	p.Inputs = slices.Clone(p.Inputs)
	p.Outputs = slices.Clone(p.Outputs)
	p.Tasks = slices.Clone(p.Tasks)
	for i := range p.Tasks {
		p.Tasks[i].Inputs = slices.Clone(p.Tasks[i].Inputs)
	}
	return p
}

// bindInputs checks run inputs against the declared pipeline inputs.
func (pl *plan) bindInputs(inputs map[string]any) (map[string]Value, error) {
	vals := make(map[string]Value, len(pl.inputs)+len(pl.tasks))
	var errs []error
	for _, in := range pl.p.Inputs {
		name := in.Name
		x, ok := inputs[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: pipeline %q: missing input %q", ErrInvalidInput, pl.p.ID, name))
			continue
		}
		vals[name] = ValueOf(x)
	}
	var unknown []string
	for name := range inputs {
		if !pl.inputs[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("%w: pipeline %q: unknown input %q", ErrInvalidInput, pl.p.ID, name))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return vals, nil
}
