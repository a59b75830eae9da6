// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/spec"
)

var builtinKinds = map[string]Kind{
	"string": String, "int": Int, "int64": Int64, "float64": Float64, "bool": Bool,
	"time": Time, "bytes": Bytes, "any": Any,
}

var builtinNames = []string{"string", "int", "int64", "float64", "bool", "time", "bytes", "any"}

// maxTypeDepth bounds the nesting of list and map types.
const maxTypeDepth = 16

// String renders the type in spec syntax, for example "[]Result" or "string?".
func (t *TypeRef) String() string {
	var s string
	switch t.Kind {
	case List:
		s = "[]" + t.Elem.String()
	case Map:
		s = "map[string]" + t.Elem.String()
	case Named:
		s = t.Named.Name
	case String:
		s = builtinNames[t.Kind]
		if t.Enum != nil {
			s = t.Enum.Name
		}
	default:
		s = builtinNames[t.Kind]
	}
	if t.Optional {
		s += "?"
	}
	return s
}

// Same reports whether t and u are the same type, ignoring constraints and
// whether they are optional.
func (t *TypeRef) Same(u *TypeRef) bool {
	if t.Kind != u.Kind {
		return false
	}
	switch t.Kind {
	case List, Map:
		return t.Elem.Same(u.Elem) && t.Elem.Optional == u.Elem.Optional
	case Named:
		return t.Named == u.Named
	case String:
		return t.Enum == u.Enum // a named enum is a type of its own
	}
	return true
}

// ListOf returns the type []elem.
func ListOf(elem *TypeRef) *TypeRef { return &TypeRef{Kind: List, Elem: elem} }

// types registers every named type, then resolves their fields, so that types
// may refer to each other in any order.
func (r *resolver) types() {
	for _, td := range r.spec.Types {
		name := td.Name.Value
		if !typeNameRE.MatchString(name) {
			r.diags.Errorf(td.Name.Pos, "type name %q must be a Go-style name in UpperCamelCase (letters and digits, starting with a capital), for example %q", name, GoName(toSnake(name)))
			continue
		}
		t := &Type{Name: name, GoName: name, Description: td.Description.Value, Pos: td.Pos}
		r.m.Types = append(r.m.Types, t)
		r.m.typesByName[name] = t
		r.claimGoName(name, fmt.Sprintf("type %q", name), td.Name.Pos)
		if td.IsEnum() {
			// Enums refer to nothing, so their values are known before
			// any field that uses them is resolved.
			r.enumType(t, td)
		}
	}
	for _, td := range r.spec.Types {
		t := r.m.typesByName[td.Name.Value]
		if t == nil || t.IsEnum {
			continue
		}
		if len(td.Fields) == 0 {
			pos := td.FieldsPos
			if pos.Line == 0 {
				pos = td.Pos
			}
			r.diags.Errorf(pos, "type %q has no fields; declare at least one under `fields`", t.Name)
		}
		t.Fields = r.fields(td.Fields, "field", fmt.Sprintf("type %q", t.Name), "Go field", t.GoName)
	}
	r.checkRecursion()
}

// enumType resolves a named enum: `type: string` and its values.
func (r *resolver) enumType(t *Type, td *spec.TypeDef) {
	t.IsEnum = true
	what := fmt.Sprintf("type %q", t.Name)
	if td.FieldsPos.Line > 0 {
		r.diags.Errorf(td.FieldsPos, "%s has `fields` and also `type` or `enum`: an object type lists `fields`, an enum is `{type: string, enum: [...]}`; keep one of them", what)
	}
	switch {
	case td.Type.Missing():
		r.diags.Errorf(td.EnumPos, "%s has `enum` but no `type`; add `type: string`", what)
	case !td.Type.Set:
		// An invalid value, already reported by the parser.
	case strings.TrimSpace(td.Type.Value) != "string":
		r.diags.Errorf(td.Type.Pos, "%s: a named type with `type` is an enum, and enum fits only string, not %q; for an object type, list `fields` instead", what, td.Type.Value)
	}
	switch {
	case td.Enum == nil:
		r.diags.Errorf(td.Type.Pos, "%s has `type` but no `enum`: a named scalar type is an enum, so list its values under `enum` (or declare an object type with `fields`)", what)
	case len(td.Enum) == 0:
		r.diags.Errorf(td.EnumPos, "%s: enum needs at least one value", what)
	default:
		t.Enum = r.enumValues(td.Enum, what, t.GoName)
		r.claimEnumValues(t.Enum, what, td.EnumPos)
	}
}

// enumValues resolves the values of an enum whose Go type is goName,
// reporting values listed twice and values whose Go constants collide.
func (r *resolver) enumValues(values []spec.Str, what, goName string) []EnumValue {
	var out []EnumValue
	seen := map[string]string{}
	for _, v := range values {
		cn := enumConstName(v.Value)
		if prev, dup := seen[cn]; dup {
			if prev == v.Value {
				r.diags.Errorf(v.Pos, "%s: enum value %q is listed twice", what, v.Value)
			} else {
				r.diags.Errorf(v.Pos, "%s: enum values %q and %q both become the Go constant %s%s; rename one", what, prev, v.Value, goName, cn)
			}
			continue
		}
		seen[cn] = v.Value
		out = append(out, EnumValue{Value: v.Value, GoName: goName + cn})
	}
	return out
}

// claimEnumValues reserves the Go constants of an enum's values.
func (r *resolver) claimEnumValues(values []EnumValue, what string, pos diag.Pos) {
	for _, ev := range values {
		r.claimGoName(ev.GoName, fmt.Sprintf("enum value %q of %s", ev.Value, what), pos)
	}
}

// fields resolves the fields of a type or the inputs of a task (noun "field"
// or "input" of owner), reporting names that are not snake_case and two
// names that become one Go identifier (goWhat says which kind). Invalid
// entries are left out.
func (r *resolver) fields(list []*spec.Field, noun, owner, goWhat, enumPrefix string) []*Field {
	var out []*Field
	goNames := map[string]string{}
	for _, fd := range list {
		if !r.checkSnake(fd.Name, noun) {
			continue
		}
		f := r.field(fd, fmt.Sprintf("%s %q of %s", noun, fd.Name.Value, owner), enumPrefix)
		if prev, dup := goNames[f.GoName]; dup {
			r.diags.Errorf(fd.Name.Pos, "%ss %q and %q of %s both become the %s %s; rename one", noun, prev, f.Name, owner, goWhat, f.GoName)
			continue
		}
		goNames[f.GoName] = f.Name
		if f.Type != nil {
			out = append(out, f)
		}
	}
	return out
}

// field resolves a field or input; enumPrefix names the enum type generated
// for it (owner Go name + field Go name).
func (r *resolver) field(fd *spec.Field, what, enumPrefix string) *Field {
	f := &Field{
		Name:        fd.Name.Value,
		GoName:      GoName(fd.Name.Value),
		GoParam:     goParam(fd.Name.Value),
		Description: fd.Type.Description.Value,
		Pos:         fd.Name.Pos,
	}
	f.Type = r.typeExpr(fd.Type, what, enumPrefix+f.GoName)
	return f
}

// typeExpr resolves a type with its constraints; nil when it is invalid.
func (r *resolver) typeExpr(te spec.TypeExpr, what, enumGoName string) *TypeRef {
	if !te.Type.Set {
		return nil
	}
	t := r.parseType(te.Type, what)
	if t == nil {
		return nil
	}
	r.constraints(t, te, what, enumGoName)
	return t
}

// parseType parses type syntax: builtins, named types, []T, map[string]T, and a
// trailing ? for an optional value.
func (r *resolver) parseType(s spec.Str, what string) *TypeRef {
	text := strings.TrimSpace(s.Value)
	optional := strings.HasSuffix(text, "?")
	text = strings.TrimSuffix(text, "?")
	t, problem := r.parseBase(text, 0)
	if problem != "" {
		r.diags.Errorf(s.Pos, "%s: %s", what, problem)
		return nil
	}
	t.Optional = optional
	return t
}

func (r *resolver) parseBase(text string, depth int) (*TypeRef, string) {
	if depth > maxTypeDepth {
		return nil, fmt.Sprintf("type nests deeper than %d levels", maxTypeDepth)
	}
	switch {
	case text == "":
		return nil, "empty type; write a type such as string, []Result or map[string]int"
	case strings.Contains(text, "?"):
		return nil, fmt.Sprintf("%q: `?` marks a whole value optional and goes only at the end of the type", text)
	case strings.HasPrefix(text, "[]"):
		elem, problem := r.parseBase(text[2:], depth+1)
		if problem != "" {
			return nil, problem
		}
		return &TypeRef{Kind: List, Elem: elem}, ""
	case strings.HasPrefix(text, "map["):
		rest := strings.TrimPrefix(text, "map[")
		if !strings.HasPrefix(rest, "string]") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Sprintf("%q is not a type; maps are written map[string]T", text)
			}
			return nil, fmt.Sprintf("map keys must be string, not %q (JSON object keys are strings)", rest[:end])
		}
		elem, problem := r.parseBase(strings.TrimPrefix(rest, "string]"), depth+1)
		if problem != "" {
			return nil, problem
		}
		return &TypeRef{Kind: Map, Elem: elem}, ""
	}
	if k, ok := builtinKinds[text]; ok {
		return &TypeRef{Kind: k}, ""
	}
	if nt := r.m.typesByName[text]; nt != nil {
		if nt.IsEnum {
			return &TypeRef{Kind: String, Enum: nt, EnumGoName: nt.GoName, Constraints: Constraints{Enum: nt.Enum}}, ""
		}
		return &TypeRef{Kind: Named, Named: nt}, ""
	}
	candidates := append(append([]string(nil), builtinNames...), typeNames(r.m.Types)...)
	return nil, fmt.Sprintf("unknown type %q%s", text, diag.DidYouMean(text, candidates))
}

func typeNames(types []*Type) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = t.Name
	}
	return out
}

// constraints checks and attaches the constraints written with a type.
func (r *resolver) constraints(t *TypeRef, te spec.TypeExpr, what, enumGoName string) {
	c := &t.Constraints
	numeric := t.Kind == Int || t.Kind == Int64 || t.Kind == Float64
	sized := t.Kind == String || t.Kind == Bytes || t.Kind == List || t.Kind == Map
	integral := t.Kind == Int || t.Kind == Int64
	kind := t.String()
	if t.Enum != nil {
		r.enumRefConstraints(t, te, what)
		return
	}
	if te.Enum != nil {
		switch {
		case t.Kind != String:
			r.diags.Errorf(te.EnumPos, "%s: enum fits only string types, not %s", what, kind)
		case len(te.Enum) == 0:
			r.diags.Errorf(te.EnumPos, "%s: enum needs at least one value", what)
		default:
			c.Enum = r.enumValues(te.Enum, what, enumGoName)
			t.EnumGoName = enumGoName
			if len(c.Enum) > 0 {
				r.claimGoName(enumGoName, "the enum type of "+what, te.EnumPos)
				r.claimEnumValues(c.Enum, what, te.EnumPos)
			}
		}
	}
	bound := func(n spec.Num, key string) *float64 {
		if !n.Set {
			return nil
		}
		switch {
		case !numeric:
			r.diags.Errorf(n.Pos, "%s: %s fits only int, int64 and float64, not %s", what, key, kind)
			return nil
		case integral && n.Value != math.Trunc(n.Value):
			r.diags.Errorf(n.Pos, "%s: %s of an integer type must be a whole number, not %v", what, key, n.Value)
			return nil
		case math.IsInf(n.Value, 0) || math.IsNaN(n.Value):
			r.diags.Errorf(n.Pos, "%s: %s must be a finite number", what, key)
			return nil
		}
		v := n.Value
		return &v
	}
	c.Min, c.Max = bound(te.Min, "min"), bound(te.Max, "max")
	if c.Min != nil && c.Max != nil && *c.Min > *c.Max {
		r.diags.Errorf(te.Max.Pos, "%s: max %v is below min %v", what, *c.Max, *c.Min)
	}
	length := func(n spec.Int, key string) *int {
		if !n.Set {
			return nil
		}
		switch {
		case !sized:
			r.diags.Errorf(n.Pos, "%s: %s fits only string, bytes, list and map types, not %s", what, key, kind)
			return nil
		case n.Value < 0 || n.Value > math.MaxInt32:
			r.diags.Errorf(n.Pos, "%s: %s must be between 0 and %d, not %d", what, key, math.MaxInt32, n.Value)
			return nil
		}
		v := int(n.Value)
		return &v
	}
	c.MinLength, c.MaxLength = length(te.MinLength, "min_length"), length(te.MaxLength, "max_length")
	if c.MinLength != nil && c.MaxLength != nil && *c.MinLength > *c.MaxLength {
		r.diags.Errorf(te.MaxLength.Pos, "%s: max_length %d is below min_length %d", what, *c.MaxLength, *c.MinLength)
	}
	if te.Pattern.Set {
		if t.Kind != String {
			r.diags.Errorf(te.Pattern.Pos, "%s: pattern fits only string types, not %s", what, kind)
		} else if _, err := regexp.Compile(te.Pattern.Value); err != nil {
			r.diags.Errorf(te.Pattern.Pos, "%s: pattern is not a valid regular expression (RE2 syntax): %v", what, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		} else {
			c.Pattern = te.Pattern.Value
		}
	}
}

// enumRefConstraints refuses constraints written with a named enum: its
// values are declared once, under types, and every use shares them.
func (r *resolver) enumRefConstraints(t *TypeRef, te spec.TypeExpr, what string) {
	var pos diag.Pos
	var key string
	switch {
	case te.Enum != nil:
		pos, key = te.EnumPos, "enum"
	case te.Pattern.Set:
		pos, key = te.Pattern.Pos, "pattern"
	case te.MinLength.Set:
		pos, key = te.MinLength.Pos, "min_length"
	case te.MaxLength.Set:
		pos, key = te.MaxLength.Pos, "max_length"
	case te.Min.Set:
		pos, key = te.Min.Pos, "min"
	case te.Max.Set:
		pos, key = te.Max.Pos, "max"
	default:
		return
	}
	r.diags.Errorf(pos, "%s: %s is a named enum, whose values are declared once under types; a use of it takes no %s", what, t.Enum.Name, key)
}

// checkRecursion reports named types that contain themselves by value (through
// fields that are neither optional, lists nor maps): such a value would be infinite.
func (r *resolver) checkRecursion() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*Type]int{}
	var path []*Type
	reported := map[*Type]bool{}
	var visit func(t *Type)
	visit = func(t *Type) {
		state[t] = visiting
		path = append(path, t)
		for _, f := range t.Fields {
			if f.Type.Kind != Named || f.Type.Optional {
				continue
			}
			next := f.Type.Named
			switch state[next] {
			case visiting:
				start := 0
				for i, p := range path {
					if p == next {
						start = i
					}
				}
				names := make([]string, 0, len(path)-start+1)
				for _, p := range path[start:] {
					names = append(names, p.Name)
				}
				names = append(names, next.Name)
				if !reported[next] {
					reported[next] = true
					r.diags.Errorf(f.Pos, "type %q contains itself (%s); make the field optional (%s?) or a list", next.Name, strings.Join(names, " -> "), next.Name)
				}
			case unvisited:
				visit(next)
			}
		}
		path = path[:len(path)-1]
		state[t] = done
	}
	for _, t := range r.m.Types {
		if state[t] == unvisited {
			visit(t)
		}
	}
}
