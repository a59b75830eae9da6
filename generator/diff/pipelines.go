// SPDX-License-Identifier: Apache-2.0

package diff

import (
	"fmt"
	"slices"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

func (d *differ) pipelines() {
	for _, a := range d.old.Pipelines {
		if b := d.new.Pipeline(a.Name); b != nil {
			d.pipeline(a, b)
			continue
		}
		hint := ""
		if r := d.renamedTo(a); r != "" {
			hint = fmt.Sprintf(" (renamed to %q? callers must change the id)", r)
		}
		d.report(at(d.old, a.Pos), diag.Error, nowhere, "pipeline %q was removed; callers of POST /pipelines/%s/execute and readers of its runs get 404%s", a.Name, a.Name, hint)
	}
	for _, b := range d.new.Pipelines {
		if d.old.Pipeline(b.Name) == nil {
			d.report(at(d.new, b.Pos), diag.Info, nowhere, "pipeline %q was added", b.Name)
		}
	}
}

// renamedTo returns a pipeline only the new spec has that runs the same
// tasks as a, or "".
func (d *differ) renamedTo(a *model.Pipeline) string {
	for _, b := range d.new.Pipelines {
		if d.old.Pipeline(b.Name) == nil && slices.Equal(sortedTaskNames(a), sortedTaskNames(b)) {
			return b.Name
		}
	}
	return ""
}

func sortedTaskNames(p *model.Pipeline) []string {
	names := taskNames(p)
	slices.Sort(names)
	return names
}

func taskNames(p *model.Pipeline) []string {
	out := make([]string, len(p.Tasks))
	for i, t := range p.Tasks {
		out[i] = t.Name
	}
	return out
}

// pipeline compares a pipeline both versions have.
func (d *differ) pipeline(a, b *model.Pipeline) {
	pos := at(d.new, b.Pos)
	if a.Description != b.Description {
		d.report(pos, diag.Info, nowhere, "pipeline %q description changed", b.Name)
	}
	if added := minus(taskNames(b), taskNames(a)); len(added) > 0 {
		d.report(pos, diag.Info, nowhere, "pipeline %q now also runs %s %s", b.Name, plural(len(added), "task", "tasks"), quoted(added))
	}
	if removed := minus(taskNames(a), taskNames(b)); len(removed) > 0 {
		d.report(pos, diag.Info, nowhere, "pipeline %q no longer runs %s %s", b.Name, plural(len(removed), "task", "tasks"), quoted(removed))
	}
	switch {
	case a.Timeout == b.Timeout:
	case b.Timeout != 0 && (a.Timeout == 0 || b.Timeout < a.Timeout):
		was := "there was none"
		if a.Timeout != 0 {
			was = "it was " + a.Timeout.String()
		}
		d.report(pos, diag.Warning, nowhere, "pipeline %q timeout is now %s (%s); runs that take longer now fail", b.Name, b.Timeout, was)
	default:
		d.report(pos, diag.Info, nowhere, "pipeline %q timeout changed from %s to %s", b.Name, timeout(a.Timeout), timeout(b.Timeout))
	}
	d.inputs(a, b)
	d.outputs(a, b)
}

func timeout(t time.Duration) string {
	if t == 0 {
		return "none"
	}
	return t.String()
}

// inputs compares a pipeline's request fields. A task input that is a
// request field of several pipelines is one element of the spec: its
// change is reported once, naming the pipelines.
func (d *differ) inputs(a, b *model.Pipeline) {
	in := seen{send, []string{b.Name}}
	for _, ia := range a.Inputs {
		ib := field(b.Inputs, ia.Name)
		if ib == nil {
			now := ""
			if t := b.Producer(ia.Name); t != nil {
				now = fmt.Sprintf("; task %q now produces it", t.Name)
			}
			d.report(at(d.old, ia.Pos), diag.Error, in, "input %q was removed; requests that still send it are refused as an unknown field%s", ia.Name, now)
			continue
		}
		subject := fmt.Sprintf("input %q", ib.Name)
		pos := at(d.new, ib.Pos)
		d.compareType(ia.Type, ib.Type, send, subject, pos, in)
		if ia.Description != ib.Description {
			d.report(pos, diag.Info, in, "%s description changed", subject)
		}
	}
	for _, ib := range b.Inputs {
		if field(a.Inputs, ib.Name) != nil {
			continue
		}
		pos := at(d.new, ib.Pos)
		switch {
		case a.Producer(ib.Name) != nil:
			d.rewired(a, b, ib)
		case !ib.Type.Optional:
			d.report(pos, diag.Error, in, "input %q was added as required; existing requests do not send it", ib.Name)
		default:
			d.report(pos, diag.Info, in, "input %q was added as optional", ib.Name)
		}
	}
}

// rewired reports a request field of b that a task of a produced: the
// input lost its producer, most often because the output was renamed on one
// side only, and callers now have to send what the pipeline used to compute.
func (d *differ) rewired(a, b *model.Pipeline, in *model.Field) {
	prod := a.Producer(in.Name)
	taker := ""
	for _, t := range b.Tasks {
		if t.Input(in.Name) != nil {
			taker = t.Name
			break
		}
	}
	now := fmt.Sprintf("task %q is no longer in the pipeline", prod.Name)
	if t := taskOf(b, prod.Name); t != nil {
		now = fmt.Sprintf("task %q now produces %q", t.Name, t.Output)
		if t.OutputType != nil && sameShape(t.OutputType, in.Type) {
			now += " of the same type: a renamed output?"
		}
	}
	kind := "required"
	if in.Type.Optional {
		kind = "optional"
	}
	d.report(at(d.new, in.Pos), diag.Error, nowhere, "pipeline %q: input %q of task %q lost its producer, task %q, and became a %s request field (%s); name the output and the input alike to wire them again", b.Name, in.Name, taker, prod.Name, kind, now)
}

func taskOf(p *model.Pipeline, name string) *model.Task {
	for _, t := range p.Tasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// outputs compares what a pipeline's finished runs return.
func (d *differ) outputs(a, b *model.Pipeline) {
	out := seen{receive, []string{b.Name}}
	for _, oa := range a.Outputs {
		ob := field(b.Outputs, oa.Name)
		if ob == nil {
			d.report(at(d.old, oa.Pos), diag.Error, out, "output %q was removed; callers reading it find nothing", oa.Name)
			continue
		}
		d.compareType(oa.Type, ob.Type, receive, fmt.Sprintf("output %q", ob.Name), at(d.new, ob.Pos), out)
	}
	for _, ob := range b.Outputs {
		if field(a.Outputs, ob.Name) == nil {
			d.report(at(d.new, ob.Pos), diag.Info, out, "output %q was added", ob.Name)
		}
	}
}
