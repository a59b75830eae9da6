// SPDX-License-Identifier: Apache-2.0

// Package diff compares two versions of a spec, as resolved models, and
// reports what changed for the clients and callers of the generated API.
//
// A breaking change (existing callers fail) is an error, a change that may
// break some callers (a lower rate limit, a new enum value in a result) a
// warning, and a compatible change (a new pipeline, an optional input, a wider
// constraint) an info. Because it reads models, not text, a change is judged
// by its effect: an input that lost its producer and became a request field,
// a role that an ACL no longer grants an action, a constraint on a named type
// reached from a pipeline's request.
package diff

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

// Compare reports the changes from before to after, sorted by position. A
// change is reported at the changed element in after, or in before when
// after no longer has it. Both models must be valid (as model.Load returns
// them).
func Compare(before, after *model.Model) []diag.Diagnostic {
	d := &differ{old: before, new: after, index: map[findingKey]int{}}
	d.service()
	d.pipelines()
	d.types()
	d.security()
	d.routes()
	d.anonymous()
	return d.diagnostics()
}

// differ collects the findings of one comparison.
type differ struct {
	old, new *model.Model
	findings []finding
	index    map[findingKey]int // position and message -> index into findings
}

// finding is one change. The same change can be found along several paths
// (a named type reached from two pipelines, in a request and in a result):
// it is reported once, with the most severe judgement and the contexts that
// led to it.
type finding struct {
	pos      diag.Pos
	severity diag.Severity
	message  string
	seen     map[direction][]string // pipelines where callers meet the element
}

// seen says where callers meet a changed element: in the requests or the
// results of some pipelines.
type seen struct {
	dir       direction
	pipelines []string
}

// nowhere is the seen of changes that name their place themselves.
var nowhere seen

type findingKey struct {
	pos     diag.Pos
	message string
}

// report records a change; in says where callers meet the changed element.
func (d *differ) report(pos diag.Pos, severity diag.Severity, in seen, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	k := findingKey{pos, msg}
	i, found := d.index[k]
	if !found {
		d.index[k] = len(d.findings)
		d.findings = append(d.findings, finding{pos: pos, severity: severity, message: msg})
		i = len(d.findings) - 1
	}
	f := &d.findings[i]
	switch {
	case severity < f.severity: // more severe: its places replace the others
		f.severity, f.seen = severity, nil
	case severity > f.severity:
		return
	}
	for _, p := range in.pipelines {
		if f.seen == nil {
			f.seen = map[direction][]string{}
		}
		if !contains(f.seen[in.dir], p) {
			f.seen[in.dir] = append(f.seen[in.dir], p)
		}
	}
}

func (d *differ) diagnostics() []diag.Diagnostic {
	var l diag.List
	for _, f := range d.findings {
		msg := f.message
		var places []string
		for _, dir := range []direction{send, receive} {
			if ps := f.seen[dir]; len(ps) > 0 {
				slices.Sort(ps)
				places = append(places, where(dir, ps))
			}
		}
		if len(places) > 0 {
			msg += " (" + strings.Join(places, "; ") + ")"
		}
		l.Add(diag.Diagnostic{Pos: f.pos, Severity: f.severity, Message: msg})
	}
	return l.Sorted()
}

// at returns pos, or the top of m's file when pos is unknown (a setting
// that is a default, not written in the spec).
func at(m *model.Model, pos diag.Pos) diag.Pos {
	if pos.Line == 0 {
		return diag.Pos{File: m.File, Line: 1, Col: 1}
	}
	return pos
}

// first returns the first known position of ps, or the top of m's file.
func first(m *model.Model, ps ...diag.Pos) diag.Pos {
	for _, p := range ps {
		if p.Line > 0 {
			return p
		}
	}
	return at(m, diag.Pos{})
}

func (d *differ) service() {
	a, b := d.old.Service, d.new.Service
	pos := at(d.new, b.Pos)
	if a.Title != b.Title {
		d.report(pos, diag.Info, nowhere, "service title changed from %q to %q", a.Title, b.Title)
	}
	if a.Version != b.Version {
		d.report(pos, diag.Info, nowhere, "service version changed from %q to %q", a.Version, b.Version)
	}
	if a.Description != b.Description {
		d.report(pos, diag.Info, nowhere, "service description changed")
	}
}

// quoted writes names as "a", "b" and "c".
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// list writes patterns or values as a YAML flow list: ["*", "report_*"].
func list(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// minus returns the elements of a that are not in b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
