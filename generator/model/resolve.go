// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"go/token"
	"sort"
	"strings"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/spec"
)

// Load parses and resolves a spec file. The model is nil when any diagnostic
// is an error; warnings come back with a usable model.
func Load(file string, data []byte) (*Model, []diag.Diagnostic) {
	s, parseDiags := spec.Parse(file, data)
	m, diags := Resolve(s)
	var all diag.List
	all.Add(parseDiags...)
	all.Add(diags...)
	out := all.Sorted()
	if all.HasErrors() {
		return nil, out
	}
	return m, out
}

// Resolve checks a parsed spec against every rule of the format and builds the
// model. It reports all problems it finds, sorted by position; the model it
// returns is only meaningful when none of them is an error.
func Resolve(s *spec.Spec) (*Model, []diag.Diagnostic) {
	r := &resolver{
		spec: s,
		m: &Model{
			File:            s.File,
			typesByName:     map[string]*Type{},
			tasksByName:     map[string]*Task{},
			pipelinesByName: map[string]*Pipeline{},
		},
		goNames: map[string]claim{},
	}
	if s.Unreadable {
		return r.m, nil // the parser has said why; nothing in the file can be trusted
	}
	r.header()
	for _, name := range reservedGoNames {
		r.goNames[name] = claim{owner: "taskwire's generated code"}
	}
	r.types()
	r.tasks()
	r.pipelines()
	r.security()
	r.routes()
	return r.m, r.diags.Sorted()
}

type resolver struct {
	spec    *spec.Spec
	m       *Model
	diags   diag.List
	goNames map[string]claim // top-level Go identifiers of the generated package
}

type claim struct {
	owner string
	pos   diag.Pos
}

// claimGoName reserves a top-level Go identifier for owner, reporting a
// collision with whoever took it first.
func (r *resolver) claimGoName(name, owner string, pos diag.Pos) {
	if prev, taken := r.goNames[name]; taken {
		where := ""
		if prev.pos.Line > 0 {
			where = fmt.Sprintf(" (line %d)", prev.pos.Line)
		}
		r.diags.Errorf(pos, "%s needs the Go name %q, which is already taken by %s%s; rename one of them", owner, name, prev.owner, where)
		return
	}
	r.goNames[name] = claim{owner: owner, pos: pos}
}

func (r *resolver) header() {
	s := r.spec
	if s.Version.Set && s.Version.Value != FormatVersion {
		r.diags.Errorf(s.Version.Pos, "unsupported format version %d; this taskwire reads `taskwire: %d`", s.Version.Value, FormatVersion)
	}
	if s.Package.Set {
		switch p := s.Package.Value; {
		case !packageRE.MatchString(p):
			r.diags.Errorf(s.Package.Pos, "package %q is not a Go package name; use lowercase letters and digits, starting with a letter (for example %q)", p, suggestPackage(p))
		case token.IsKeyword(p):
			r.diags.Errorf(s.Package.Pos, "package %q is a Go keyword; choose another name", p)
		default:
			r.m.Package = p
		}
	}
	r.m.Service = Service{Title: r.m.Package, Version: "0.0.0"}
	if svc := s.Service; svc != nil {
		r.m.Service.Pos = svc.Pos
		if svc.Title.Set {
			r.m.Service.Title = svc.Title.Value
		}
		if svc.Version.Set {
			r.m.Service.Version = svc.Version.Value
		}
		r.m.Service.Description = svc.Description.Value
		r.m.Service.Retention = r.retention(svc.Retention, "service.retention", Retention{})
	}
}

// MaxRetentionRuns bounds retention max_runs.
const MaxRetentionRuns = 1_000_000_000

// retention resolves a retention mapping whose unset keys take base's
// values; what names it in diagnostics.
func (r *resolver) retention(rs *spec.Retention, what string, base Retention) Retention {
	out := base
	if rs == nil {
		return out
	}
	if rs.MaxAge.Set {
		out.MaxAge = r.duration(rs.MaxAge, what+" max_age")
	}
	if rs.MaxRuns.Set {
		if n := rs.MaxRuns.Value; n < 1 || n > MaxRetentionRuns {
			r.diags.Errorf(rs.MaxRuns.Pos, "%s max_runs must be between 1 and %d, not %d; leave it out to keep every run", what, MaxRetentionRuns, n)
		} else {
			out.MaxRuns = int(n)
		}
	}
	if !rs.MaxAge.Set && !rs.MaxRuns.Set {
		r.diags.Errorf(rs.Pos, "%s sets neither max_age nor max_runs; set one, or remove it", what)
	}
	return out
}

func suggestPackage(p string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(p) {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9' && b.Len() > 0) {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "service"
	}
	return b.String()
}

// checkSnake reports whether name is a snake_case identifier, reporting it otherwise.
func (r *resolver) checkSnake(name spec.Str, what string) bool {
	if snakeRE.MatchString(name.Value) {
		return true
	}
	r.diags.Errorf(name.Pos, "%s name %q is not a snake_case identifier (lowercase letters, digits and single underscores, starting with a letter), for example %q", what, name.Value, toSnake(name.Value))
	return false
}

// toSnake suggests a snake_case spelling of s.
func toSnake(s string) string {
	var b strings.Builder
	prevUnderscore := true
	for i, c := range s {
		switch {
		case 'A' <= c && c <= 'Z':
			if i > 0 && !prevUnderscore {
				b.WriteByte('_')
			}
			b.WriteRune(c + 'a' - 'A')
			prevUnderscore = false
		case ('a' <= c && c <= 'z') || ('0' <= c && c <= '9'):
			if b.Len() == 0 && '0' <= c && c <= '9' {
				b.WriteString("n")
			}
			b.WriteRune(c)
			prevUnderscore = false
		default:
			if !prevUnderscore {
				b.WriteByte('_')
				prevUnderscore = true
			}
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		return "name"
	}
	return out
}

// duration parses a Go duration that must be positive.
func (r *resolver) duration(s spec.Str, what string) time.Duration {
	if !s.Set {
		return 0
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		r.diags.Errorf(s.Pos, "%s %q is not a duration; write a Go duration such as 30s, 5m or 1h30m", what, s.Value)
		return 0
	}
	if d <= 0 {
		r.diags.Errorf(s.Pos, "%s must be positive, not %q", what, s.Value)
		return 0
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
