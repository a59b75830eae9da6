// SPDX-License-Identifier: Apache-2.0

package diff

import (
	"fmt"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

// direction says whether callers send a value (in an execute request) or
// receive it (in a run's outputs). A change breaks callers in one direction
// and not in the other: a new required field breaks requests, a field made
// optional breaks readers of results.
type direction int

const (
	send direction = iota
	receive
)

// sameShape reports whether a and b are the same type, optional markers and
// constraints aside. Named types are compared by name: the two models are
// resolved apart.
func sameShape(a, b *model.TypeRef) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case model.List, model.Map:
		return sameShape(a.Elem, b.Elem)
	case model.Named:
		return a.Named.Name == b.Named.Name
	}
	return true
}

// compareType compares the type of one value callers send or receive.
// subject names it in messages (`pipeline "p" input "data"`), pos is its
// position in the new spec, context where callers meet it.
func (d *differ) compareType(a, b *model.TypeRef, dir direction, subject string, pos diag.Pos, in seen) {
	if !sameShape(a, b) {
		d.report(pos, diag.Error, in, "%s changed type from %s to %s", subject, a, b)
		return
	}
	switch {
	case a.Optional == b.Optional:
	case dir == send && !b.Optional:
		d.report(pos, diag.Error, in, "%s is now required; requests without it are refused", subject)
	case dir == send:
		d.report(pos, diag.Info, in, "%s is now optional", subject)
	case b.Optional:
		d.report(pos, diag.Error, in, "%s is now optional, so callers may receive no value", subject)
	default:
		d.report(pos, diag.Info, in, "%s is now always present", subject)
	}
	d.constraints(a.Constraints, b.Constraints, dir, subject, pos, in)
	switch a.Kind {
	case model.List:
		d.compareType(a.Elem, b.Elem, dir, subject+" (its elements)", pos, in)
	case model.Map:
		d.compareType(a.Elem, b.Elem, dir, subject+" (its values)", pos, in)
	}
}

// constraints compares the constraints of one value. For values callers send,
// a tighter constraint refuses requests that passed before; for values they
// receive, only new enum values can surprise them.
func (d *differ) constraints(a, b model.Constraints, dir direction, subject string, pos diag.Pos, in seen) {
	tighter, looser := diag.Error, diag.Info
	if dir == receive {
		tighter = diag.Info
	}
	d.enum(enumValues(a), enumValues(b), dir, subject, pos, in)
	bound := func(name string, x, y *float64, lowerIsTighter bool) {
		switch {
		case x == nil && y == nil:
		case x == nil:
			d.report(pos, tighter, in, "%s now has %s %s", subject, name, num(*y))
		case y == nil:
			d.report(pos, looser, in, "%s no longer has %s %s", subject, name, num(*x))
		case *x != *y:
			verb, sev := "raised", tighter
			if *y < *x {
				verb = "lowered"
			}
			if (*y < *x) != lowerIsTighter {
				sev = looser
			}
			d.report(pos, sev, in, "%s %s %s from %s to %s", subject, name, verb, num(*x), num(*y))
		}
	}
	bound("min", a.Min, b.Min, false)
	bound("max", a.Max, b.Max, true)
	bound("min_length", intp(a.MinLength), intp(b.MinLength), false)
	bound("max_length", intp(a.MaxLength), intp(b.MaxLength), true)
	switch {
	case a.Pattern == b.Pattern:
	case a.Pattern == "":
		d.report(pos, tighter, in, "%s must now match the pattern %q", subject, b.Pattern)
	case b.Pattern == "":
		d.report(pos, looser, in, "%s no longer has the pattern %q", subject, a.Pattern)
	default:
		d.report(pos, tighter, in, "%s pattern changed from %q to %q", subject, a.Pattern, b.Pattern)
	}
}

// enum compares the allowed values of one value.
func (d *differ) enum(a, b []string, dir direction, subject string, pos diag.Pos, in seen) {
	added, removed := minus(b, a), minus(a, b)
	switch {
	case len(a) == 0 && len(b) == 0:
	case len(a) == 0 && dir == send:
		d.report(pos, diag.Error, in, "%s now accepts only %s", subject, quoted(b))
	case len(a) == 0:
		d.report(pos, diag.Info, in, "%s is now always one of %s", subject, quoted(b))
	case len(b) == 0 && dir == send:
		d.report(pos, diag.Info, in, "%s is no longer limited to %s", subject, quoted(a))
	case len(b) == 0:
		d.report(pos, diag.Warning, in, "%s is no longer limited to %s; clients that handle only those values may fail on others", subject, quoted(a))
	default:
		if len(removed) > 0 {
			if dir == send {
				d.report(pos, diag.Error, in, "%s no longer accepts the enum %s %s", subject, plural(len(removed), "value", "values"), quoted(removed))
			} else {
				d.report(pos, diag.Info, in, "%s can no longer be the enum %s %s", subject, plural(len(removed), "value", "values"), quoted(removed))
			}
		}
		if len(added) > 0 {
			if dir == send {
				d.report(pos, diag.Info, in, "%s now also accepts the enum %s %s", subject, plural(len(added), "value", "values"), quoted(added))
			} else {
				d.report(pos, diag.Warning, in, "%s may now be the new enum %s %s; clients that handle only the old values may fail on it", subject, plural(len(added), "value", "values"), quoted(added))
			}
		}
	}
}

func enumValues(c model.Constraints) []string {
	out := make([]string, len(c.Enum))
	for i, e := range c.Enum {
		out[i] = e.Value
	}
	return out
}

func intp(p *int) *float64 {
	if p == nil {
		return nil
	}
	v := float64(*p)
	return &v
}

// usage records, for each named type, the pipelines whose requests
// (send) or results (receive) hold it, directly or through other types.
type usage map[string]map[direction][]string

func usesOf(m *model.Model) usage {
	u := usage{}
	var walk func(t *model.TypeRef, dir direction, pipeline string, seen map[string]bool)
	walk = func(t *model.TypeRef, dir direction, pipeline string, seen map[string]bool) {
		for ; t != nil; t = t.Elem {
			if t.Kind != model.Named || seen[t.Named.Name] {
				continue
			}
			name := t.Named.Name
			seen[name] = true
			if u[name] == nil {
				u[name] = map[direction][]string{}
			}
			if !contains(u[name][dir], pipeline) {
				u[name][dir] = append(u[name][dir], pipeline)
			}
			for _, f := range t.Named.Fields {
				walk(f.Type, dir, pipeline, seen)
			}
		}
	}
	for _, p := range m.Pipelines {
		seen := map[string]bool{}
		for _, in := range p.Inputs {
			walk(in.Type, send, p.Name, seen)
		}
		seen = map[string]bool{}
		for _, out := range p.Outputs {
			walk(out.Type, receive, p.Name, seen)
		}
	}
	return u
}

// types compares the named types both versions have, in each direction in
// which both versions use them (a type newly used somewhere comes with a
// changed input or output, reported there).
func (d *differ) types() {
	oldUse, newUse := usesOf(d.old), usesOf(d.new)
	for _, a := range d.old.Types {
		b := d.new.Type(a.Name)
		if b == nil {
			d.report(at(d.old, a.Pos), diag.Info, nowhere, "type %q was removed", a.Name)
			continue
		}
		if a.Description != b.Description {
			d.report(at(d.new, b.Pos), diag.Info, nowhere, "type %q description changed", b.Name)
		}
		for _, dir := range []direction{send, receive} {
			var both []string
			for _, p := range oldUse[a.Name][dir] {
				if contains(newUse[b.Name][dir], p) {
					both = append(both, p)
				}
			}
			if len(both) > 0 {
				d.fields(a, b, dir, seen{dir, both})
			}
		}
	}
	for _, b := range d.new.Types {
		if d.old.Type(b.Name) == nil {
			d.report(at(d.new, b.Pos), diag.Info, nowhere, "type %q was added", b.Name)
		}
	}
}

// where says where callers meet an element: in requests to some pipelines or
// in the results of others.
func where(dir direction, pipelines []string) string {
	noun := plural(len(pipelines), "pipeline", "pipelines")
	if dir == send {
		return fmt.Sprintf("in requests to %s %s", noun, quoted(pipelines))
	}
	return fmt.Sprintf("in results of %s %s", noun, quoted(pipelines))
}

// fields compares the fields of a named type callers meet in direction dir.
func (d *differ) fields(a, b *model.Type, dir direction, in seen) {
	for _, fa := range a.Fields {
		fb := field(b.Fields, fa.Name)
		if fb == nil {
			pos := at(d.old, fa.Pos)
			if dir == send {
				d.report(pos, diag.Error, in, "type %q field %q was removed; requests that still send it are refused as an unknown field", a.Name, fa.Name)
			} else {
				d.report(pos, diag.Error, in, "type %q field %q was removed, so callers no longer receive it", a.Name, fa.Name)
			}
			continue
		}
		subject := fmt.Sprintf("type %q field %q", b.Name, fb.Name)
		pos := at(d.new, fb.Pos)
		d.compareType(fa.Type, fb.Type, dir, subject, pos, in)
		if fa.Description != fb.Description {
			d.report(pos, diag.Info, nowhere, "%s description changed", subject)
		}
	}
	for _, fb := range b.Fields {
		if field(a.Fields, fb.Name) != nil {
			continue
		}
		pos := at(d.new, fb.Pos)
		switch {
		case dir == send && !fb.Type.Optional:
			d.report(pos, diag.Error, in, "type %q has a new required field %q; existing requests do not send it", b.Name, fb.Name)
		case dir == send:
			d.report(pos, diag.Info, in, "type %q has a new optional field %q", b.Name, fb.Name)
		default:
			d.report(pos, diag.Info, in, "type %q has a new field %q", b.Name, fb.Name)
		}
	}
}

func field(fs []*model.Field, name string) *model.Field {
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	return nil
}
