// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"strings"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/spec"
)

func (r *resolver) pipelines() {
	used := map[*Task]bool{}
	unreadable := r.spec.TasksUnreadable // then "in no pipeline" would only repeat that error
	byGoName := map[string]string{}
	for _, ps := range r.spec.Pipelines {
		if !r.checkSnake(ps.Name, "pipeline") {
			continue
		}
		p := &Pipeline{Name: ps.Name.Value, GoName: GoName(ps.Name.Value), Description: ps.Description.Value, Pos: ps.Pos}
		if prev, dup := byGoName[p.GoName]; dup {
			r.diags.Errorf(ps.Name.Pos, "pipelines %q and %q both become the Go name %s; rename one", prev, p.Name, p.GoName)
			continue
		}
		byGoName[p.GoName] = p.Name
		p.InputGoName, p.OutputGoName, p.HandleGoName, p.StartGoName = p.GoName+"Input", p.GoName+"Output", p.GoName+"Run", "Start"+p.GoName
		p.RunGoName = "Run" + p.GoName
		owner := fmt.Sprintf("pipeline %q", p.Name)
		r.claimGoName(p.InputGoName, owner+" (its input struct)", ps.Name.Pos)
		r.claimGoName(p.OutputGoName, owner+" (its output struct)", ps.Name.Pos)
		r.claimGoName(p.HandleGoName, owner+" (its run handle)", ps.Name.Pos)
		r.claimGoName(p.StartGoName, owner+" (its start function)", ps.Name.Pos)
		r.claimGoName(p.RunGoName, owner+" (its run function)", ps.Name.Pos)
		p.Timeout = r.duration(ps.Timeout, owner+" timeout")
		p.Retention = r.retention(ps.Retention, owner+" retention", r.m.Service.Retention)
		r.wire(p, ps)
		for _, name := range ps.Tasks {
			if t := r.m.tasksByName[name.Value]; t != nil {
				used[t] = true
			}
		}
		unreadable = unreadable || ps.TasksUnreadable
		r.m.Pipelines = append(r.m.Pipelines, p)
		r.m.pipelinesByName[p.Name] = p
	}
	for _, t := range r.m.Tasks {
		if !used[t] && !unreadable {
			r.diags.Warnf(t.Pos, "task %q is in no pipeline, so nothing runs it", t.Name)
		}
	}
}

// wire resolves a pipeline's tasks, connects inputs to outputs by name,
// derives the pipeline's inputs and outputs, and orders the tasks.
func (r *resolver) wire(p *Pipeline, ps *spec.Pipeline) {
	if len(ps.Tasks) == 0 {
		if ps.TasksUnreadable {
			return
		}
		r.diags.Errorf(ps.TasksPos, "pipeline %q has no tasks; list at least one under `tasks`", p.Name)
		return
	}
	var members []*Task
	listedAt := map[*Task]diag.Pos{}
	for _, name := range ps.Tasks {
		t := r.m.tasksByName[name.Value]
		switch {
		case t == nil && (specHasTask(r.spec, name.Value) || r.spec.TasksUnreadable):
			// The task is declared but invalid; that is reported at the task.
		case t == nil:
			r.diags.Errorf(name.Pos, "pipeline %q lists unknown task %q%s", p.Name, name.Value, diag.DidYouMean(name.Value, specTaskNames(r.spec)))
		case listedAt[t].Line > 0:
			r.diags.Errorf(name.Pos, "pipeline %q lists task %q twice", p.Name, name.Value)
		default:
			listedAt[t] = name.Pos
			members = append(members, t)
		}
	}

	producers := map[string]*Task{}
	var produced []string
	for _, t := range members {
		if t.Output == "" {
			continue
		}
		if prev := producers[t.Output]; prev != nil {
			r.diags.Errorf(listedAt[t], "tasks %q and %q both produce %q in pipeline %q; an output has exactly one producer, so rename one output", prev.Name, t.Name, t.Output, p.Name)
			continue
		}
		producers[t.Output] = t
		produced = append(produced, t.Output)
	}

	deps := map[*Task][]Edge{}
	inputs := map[string]*Field{}
	takers := map[string][]*Task{} // pipeline input -> the tasks taking it
	for _, t := range members {
		for _, in := range t.Inputs {
			isMap := t.Map == in.Name
			if prod := producers[in.Name]; prod != nil {
				r.checkWire(p, t, in, prod, isMap)
				deps[t] = append(deps[t], Edge{From: prod, To: t, Name: in.Name, IsMap: isMap})
				continue
			}
			r.pipelineInput(p, t, in, isMap, inputs, produced)
			takers[in.Name] = append(takers[in.Name], t)
		}
	}

	p.Tasks, p.Edges = r.order(p, members, deps, ps.TasksPos)
	r.warnLikelyRenames(p, members, takers, producers, produced)
	r.outputs(p, ps, producers, produced)
	r.checkFieldGoNames(p, p.Inputs, p.InputGoName)
	r.checkFieldGoNames(p, p.Outputs, p.OutputGoName)
}

// warnLikelyRenames reports a pipeline input that has the type of an output
// produced in the pipeline which no task takes: the usual trace of an output
// renamed on one side only, which silently turns the downstream input into a
// request field. Only types involving a named type count; string, int,
// []string and the like are shared by unrelated values far too often. An
// output is no candidate when a task taking the input produces it or runs
// before it (wiring them would make a cycle), or when the input already
// draws the typo warning.
func (r *resolver) warnLikelyRenames(p *Pipeline, members []*Task, takers map[string][]*Task, producers map[string]*Task, produced []string) {
	taken := map[string]bool{}
	for _, t := range members {
		for _, in := range t.Inputs {
			taken[in.Name] = true
		}
	}
	for _, in := range p.Inputs {
		if !involvesNamed(in.Type) || diag.Suggest(in.Name, produced) != "" {
			continue
		}
		var candidates []string
		for _, out := range produced {
			t := producers[out]
			if taken[out] || t.OutputType == nil || !t.OutputType.Same(in.Type) || dependsOnAny(t, takers[in.Name], p) {
				continue
			}
			candidates = append(candidates, fmt.Sprintf("task %q produces %q", t.Name, out))
		}
		if len(candidates) == 0 {
			continue
		}
		r.diags.Warnf(in.Pos, "task %q input %q is produced by no task in pipeline %q, so it becomes a request field, but %s of the same type %s, which no task takes (a renamed output?); give the output and the input one name to wire them", takers[in.Name][0].Name, in.Name, p.Name, strings.Join(candidates, " and "), in.Type)
	}
}

// involvesNamed reports whether t is a named type or a list or map of one.
func involvesNamed(t *TypeRef) bool {
	for ; t != nil; t = t.Elem {
		if t.Kind == Named {
			return true
		}
	}
	return false
}

// dependsOnAny reports whether t is one of tasks or depends, directly or
// through other tasks of p, on one of them.
func dependsOnAny(t *Task, tasks []*Task, p *Pipeline) bool {
	for _, u := range tasks {
		if u == t {
			return true
		}
	}
	// p.Edges lists edges in topological order of their targets, so one pass
	// backwards from t's own edges finds everything t depends on.
	needs := map[*Task]bool{t: true}
	for i := len(p.Edges) - 1; i >= 0; i-- {
		if e := p.Edges[i]; needs[e.To] {
			needs[e.From] = true
		}
	}
	for _, u := range tasks {
		if needs[u] {
			return true
		}
	}
	return false
}

// checkFieldGoNames reports two inputs (or outputs) of a pipeline that would
// become the same field of its generated struct.
func (r *resolver) checkFieldGoNames(p *Pipeline, fields []*Field, structName string) {
	seen := map[string]string{}
	for _, f := range fields {
		if prev, dup := seen[f.GoName]; dup {
			r.diags.Errorf(f.Pos, "%q and %q of pipeline %q both become the field %s.%s; rename one", prev, f.Name, p.Name, structName, f.GoName)
			continue
		}
		seen[f.GoName] = f.Name
	}
}

func specHasTask(s *spec.Spec, name string) bool {
	for _, t := range s.Tasks {
		if t.Name.Value == name {
			return true
		}
	}
	return false
}

func specTaskNames(s *spec.Spec) []string {
	out := make([]string, len(s.Tasks))
	for i, t := range s.Tasks {
		out[i] = t.Name.Value
	}
	return out
}

// checkWire checks that a task input fed by prod has prod's output type (for a
// map input: that prod produces a list of the declared element type).
func (r *resolver) checkWire(p *Pipeline, t *Task, in *Field, prod *Task, isMap bool) {
	if prod.OutputType == nil {
		return
	}
	got := prod.OutputType
	if !isMap {
		if !got.Same(in.Type) {
			r.diags.Errorf(in.Pos, "input %q of task %q is %s, but task %q produces %q as %s in pipeline %q; make the types equal", in.Name, t.Name, in.Type, prod.Name, in.Name, got, p.Name)
		}
		return
	}
	switch {
	case got.Kind != List:
		r.diags.Errorf(in.Pos, "task %q maps over %q, but task %q produces it as %s, which is not a list, in pipeline %q", t.Name, in.Name, prod.Name, got, p.Name)
	case !got.Elem.Same(in.Type) || got.Elem.Optional != in.Type.Optional:
		hint := ""
		if got.Same(in.Type) {
			hint = fmt.Sprintf("; a map task declares the element type, so write %s", got.Elem)
		}
		r.diags.Errorf(in.Pos, "task %q maps over %q and takes each element as %s, but task %q produces %s in pipeline %q%s", t.Name, in.Name, in.Type, prod.Name, got, p.Name, hint)
	}
}

// pipelineInput records an input that no task of the pipeline produces: it
// becomes a field of the execute request.
func (r *resolver) pipelineInput(p *Pipeline, t *Task, in *Field, isMap bool, inputs map[string]*Field, produced []string) {
	typ := in.Type
	if isMap {
		typ = ListOf(in.Type)
		typ.Optional = false
	}
	prev := inputs[in.Name]
	if prev == nil {
		f := &Field{Name: in.Name, GoName: in.GoName, GoParam: in.GoParam, Description: in.Description, Type: typ, Pos: in.Pos}
		inputs[in.Name] = f
		p.Inputs = append(p.Inputs, f)
		if s := diag.Suggest(in.Name, produced); s != "" {
			r.diags.Warnf(in.Pos, "task %q input %q is produced by no task in pipeline %q, so it becomes a request field (did you mean %q?)", t.Name, in.Name, p.Name, s)
		}
		return
	}
	switch {
	case !prev.Type.Same(typ) || prev.Type.Optional != typ.Optional:
		r.diags.Errorf(in.Pos, "tasks of pipeline %q disagree on the type of pipeline input %q: %s here, %s at line %d; make them equal", p.Name, in.Name, typ, prev.Type, prev.Pos.Line)
	case !typ.Constraints.Empty() && !prev.Type.Constraints.Empty() && !sameConstraints(prev.Type.Constraints, typ.Constraints):
		r.diags.Errorf(in.Pos, "tasks of pipeline %q give pipeline input %q different constraints (here and at line %d); declare them once or make them equal", p.Name, in.Name, prev.Pos.Line)
	case prev.Type.Constraints.Empty() && !typ.Constraints.Empty():
		prev.Type = typ
	}
	if prev.Description == "" {
		prev.Description = in.Description
	}
}

func sameConstraints(a, b Constraints) bool {
	eqf := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqi := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	if len(a.Enum) != len(b.Enum) {
		return false
	}
	for i := range a.Enum {
		if a.Enum[i].Value != b.Enum[i].Value {
			return false
		}
	}
	return eqf(a.Min, b.Min) && eqf(a.Max, b.Max) && eqi(a.MinLength, b.MinLength) && eqi(a.MaxLength, b.MaxLength) && a.Pattern == b.Pattern
}

// order sorts the members topologically (Kahn's algorithm, ties broken by the
// order the spec lists them in) and reports every cycle with its path.
func (r *resolver) order(p *Pipeline, members []*Task, deps map[*Task][]Edge, pos diag.Pos) ([]*Task, []Edge) {
	indeg := map[*Task]int{}
	users := map[*Task][]*Task{}
	for _, t := range members {
		for _, e := range deps[t] {
			indeg[t]++
			users[e.From] = append(users[e.From], t)
		}
	}
	done := map[*Task]bool{}
	var sorted []*Task
	var edges []Edge
	for len(sorted) < len(members) {
		var next *Task
		for _, t := range members {
			if !done[t] && indeg[t] == 0 {
				next = t
				break
			}
		}
		if next == nil {
			break
		}
		done[next] = true
		sorted = append(sorted, next)
		edges = append(edges, deps[next]...)
		for _, u := range users[next] {
			indeg[u]--
		}
	}
	if len(sorted) < len(members) {
		r.reportCycles(p, members, deps, done, pos)
	}
	return sorted, edges
}

// reportCycles finds the cycles among the tasks Kahn's algorithm could not
// order and reports each with its whole path (a -> b -> c -> a).
func (r *resolver) reportCycles(p *Pipeline, members []*Task, deps map[*Task][]Edge, ordered map[*Task]bool, pos diag.Pos) {
	out := map[*Task][]*Task{} // producer -> consumers among the unordered tasks
	for _, t := range members {
		for _, e := range deps[t] {
			if !ordered[e.From] && !ordered[t] {
				out[e.From] = append(out[e.From], t)
			}
		}
	}
	inCycle := map[*Task]bool{}
	for _, start := range members {
		if ordered[start] || inCycle[start] {
			continue
		}
		// Depth-first search from start for a path back to start.
		path := []*Task{start}
		seen := map[*Task]bool{start: true}
		var found []*Task
		var dfs func(t *Task) bool
		dfs = func(t *Task) bool {
			for _, u := range out[t] {
				if u == start {
					found = append(append([]*Task(nil), path...), start)
					return true
				}
				if seen[u] || inCycle[u] {
					continue
				}
				seen[u] = true
				path = append(path, u)
				if dfs(u) {
					return true
				}
				path = path[:len(path)-1]
			}
			return false
		}
		if !dfs(start) {
			continue
		}
		names := make([]string, len(found))
		for i, t := range found {
			names[i] = t.Name
			inCycle[t] = true
		}
		r.diags.Errorf(pos, "pipeline %q has a cycle: %s; a task cannot depend on its own output", p.Name, strings.Join(names, " -> "))
	}
}

// outputs resolves what a finished run returns: the listed outputs, or every
// output the pipeline produces.
func (r *resolver) outputs(p *Pipeline, ps *spec.Pipeline, producers map[string]*Task, produced []string) {
	if !ps.OutputsSet {
		for _, t := range p.Tasks {
			if producers[t.Output] == t && t.OutputType != nil {
				p.Outputs = append(p.Outputs, outputField(t))
			}
		}
		return
	}
	if len(ps.Outputs) == 0 {
		r.diags.Errorf(ps.OutputsPos, "pipeline %q lists no outputs; name at least one, or remove `outputs` to return every output", p.Name)
		return
	}
	seen := map[string]bool{}
	for _, o := range ps.Outputs {
		t := producers[o.Value]
		switch {
		case seen[o.Value]:
			r.diags.Errorf(o.Pos, "pipeline %q lists output %q twice", p.Name, o.Value)
		case t == nil:
			r.diags.Errorf(o.Pos, "pipeline %q returns %q, but no task in it produces %q%s", p.Name, o.Value, o.Value, diag.DidYouMean(o.Value, produced))
		case t.OutputType != nil:
			p.Outputs = append(p.Outputs, outputField(t))
		}
		seen[o.Value] = true
	}
}

func outputField(t *Task) *Field {
	return &Field{Name: t.Output, GoName: GoName(t.Output), GoParam: goParam(t.Output), Type: t.OutputType, Pos: t.Pos}
}
