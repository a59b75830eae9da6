// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/spec"
	"github.com/taskwire/taskwire/runtime"
)

// Defaults and bounds of task settings.
const (
	DefaultBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	MaxAttempts           = 100
	DefaultMapConcurrency = 8
	MaxMapConcurrency     = 10000
)

func (r *resolver) tasks() {
	byGoName := map[string]string{}
	for _, ts := range r.spec.Tasks {
		if !r.checkSnake(ts.Name, "task") {
			continue
		}
		t := &Task{Name: ts.Name.Value, GoName: GoName(ts.Name.Value), Description: ts.Description.Value, Pos: ts.Pos}
		if prev, dup := byGoName[t.GoName]; dup {
			r.diags.Errorf(ts.Name.Pos, "tasks %q and %q both become the Go method %s; rename one", prev, t.Name, t.GoName)
			continue
		}
		byGoName[t.GoName] = t.Name
		r.task(t, ts)
		r.m.Tasks = append(r.m.Tasks, t)
		r.m.tasksByName[t.Name] = t
	}
}

func (r *resolver) task(t *Task, ts *spec.Task) {
	what := fmt.Sprintf("task %q", t.Name)
	t.Inputs = r.fields(ts.Inputs, "input", what, "Go name", t.GoName)
	if len(t.Inputs) > MaxPositionalInputs {
		t.InputsGoName = t.GoName + "Inputs"
		r.claimGoName(t.InputsGoName, fmt.Sprintf("%s (the struct of its %d inputs)", what, len(t.Inputs)), ts.Name.Pos)
	}

	switch {
	case ts.Output.Missing():
		r.diags.Errorf(ts.Pos, "%s has no `output`: name the value it produces (other tasks take it as an input of that name)", what)
	case ts.Output.Set && r.checkSnake(ts.Output, "output"):
		t.Output = ts.Output.Value
	}
	if ts.Type.Missing() {
		r.diags.Errorf(ts.Pos, "%s has no `type`: give the type of its output %q", what, ts.Output.Value)
	} else if tr := r.parseType(ts.Type, what+" type"); tr != nil {
		if tr.Optional {
			r.diags.Errorf(ts.Type.Pos, "%s: an output cannot be optional (%q); a task that has nothing to return should fail or return an empty value", what, ts.Type.Value)
			tr.Optional = false
		}
		t.ElemType, t.OutputType = tr, tr
	}

	t.Timeout = r.duration(ts.Timeout, what+" timeout")
	t.Retry = r.retry(ts.Retry, what)

	if ts.Map.Set {
		in := t.Input(ts.Map.Value)
		switch {
		case in != nil:
			t.Map = in.Name
			t.Concurrency = DefaultMapConcurrency
			if t.ElemType != nil {
				t.OutputType = ListOf(t.ElemType)
			}
		case inputDeclared(ts, ts.Map.Value):
			// The input itself is invalid and already reported.
		default:
			r.diags.Errorf(ts.Map.Pos, "%s maps over %q, which is not one of its inputs%s", what, ts.Map.Value, diag.DidYouMean(ts.Map.Value, inputNames(ts)))
		}
	}
	if ts.Concurrency.Set {
		switch c := ts.Concurrency.Value; {
		case !ts.Map.Set:
			r.diags.Errorf(ts.Concurrency.Pos, "%s: concurrency applies only to map tasks (add `map: INPUT` or remove it)", what)
		case c < 1 || c > MaxMapConcurrency:
			r.diags.Errorf(ts.Concurrency.Pos, "%s: concurrency must be between 1 and %d, not %d", what, MaxMapConcurrency, c)
		default:
			t.Concurrency = int(c)
			if t.Concurrency > runtime.MinDefaultWorkers {
				r.diags.Warnf(ts.Concurrency.Pos, "%s: concurrency %d is above %d, the task executions a process runs at once by default on 2 CPUs (4 per CPU on larger machines); elements beyond a process's slots wait for one: give the processes that run it at least %d (-workers %d, or TASKWIRE_WORKERS)",
					what, t.Concurrency, runtime.MinDefaultWorkers, t.Concurrency, t.Concurrency)
			}
		}
	}
}

func inputDeclared(ts *spec.Task, name string) bool {
	for _, in := range ts.Inputs {
		if in.Name.Value == name {
			return true
		}
	}
	return false
}

func inputNames(ts *spec.Task) []string {
	out := make([]string, len(ts.Inputs))
	for i, in := range ts.Inputs {
		out[i] = in.Name.Value
	}
	return out
}

func (r *resolver) retry(rs *spec.Retry, what string) Retry {
	rp := Retry{Attempts: 1, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}
	if rs == nil {
		return rp
	}
	if rs.Attempts.Set {
		if a := rs.Attempts.Value; a < 1 || a > MaxAttempts {
			r.diags.Errorf(rs.Attempts.Pos, "%s retry attempts must be between 1 and %d (1 means no retry), not %d", what, MaxAttempts, a)
		} else {
			rp.Attempts = int(a)
		}
	}
	if d := r.duration(rs.Backoff, what+" retry backoff"); d > 0 {
		rp.Backoff = d
	}
	if d := r.duration(rs.MaxBackoff, what+" retry max_backoff"); d > 0 {
		rp.MaxBackoff = d
	}
	switch {
	case rp.MaxBackoff >= rp.Backoff:
	case rs.Backoff.Set && rs.MaxBackoff.Set:
		r.diags.Errorf(rs.MaxBackoff.Pos, "%s retry max_backoff %s is below backoff %s", what, rp.MaxBackoff, rp.Backoff)
	case rs.MaxBackoff.Set: // a cap below the default first delay lowers that delay too
		rp.Backoff = rp.MaxBackoff
	default: // a first delay above the default cap raises the cap
		rp.MaxBackoff = rp.Backoff
	}
	return rp
}
