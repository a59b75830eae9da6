// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator/model"
)

const schemaRefPrefix = "#/components/schemas/"

// component returns the schema registered as name, registering an empty one
// first. References hold this pointer, so a schema may be referenced before
// it is defined (types refer to each other in any order).
func (g *gen) component(name string) *openapi3.Schema {
	if r, ok := g.doc.Components.Schemas[name]; ok {
		return r.Value
	}
	s := &openapi3.Schema{}
	g.doc.Components.Schemas[name] = &openapi3.SchemaRef{Value: s}
	return s
}

// define sets the schema registered as name.
func (g *gen) define(name string, s *openapi3.Schema) { *g.component(name) = *s }

// ref is a $ref to the schema registered as name.
func (g *gen) ref(name string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Ref: schemaRefPrefix + name, Value: g.component(name)}
}

// namedTypes defines a schema for every named type of the spec, under its
// Go name. Objects are closed (additionalProperties: false) because the
// server decodes request bodies strictly: an unknown field is a 400.
func (g *gen) namedTypes() {
	for _, t := range g.m.Types {
		if t.IsEnum {
			s := openapi3.NewStringSchema()
			for _, v := range t.Enum {
				s.Enum = append(s.Enum, v.Value)
			}
			s.Description = t.Description
			g.define(t.GoName, s)
			continue
		}
		s := g.object(t.Fields, true)
		s.Description = t.Description
		g.define(t.GoName, s)
	}
}

// object is the schema of an object with fields: optional fields are not
// required (and may be null), every other field is.
func (g *gen) object(fields []*model.Field, closed bool) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	for _, f := range fields {
		s.Properties[f.Name] = g.typeSchema(f.Type, f.Description)
		if !f.Type.Optional {
			s.Required = append(s.Required, f.Name)
		}
	}
	if closed {
		no := false
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	}
	return s
}

// typeSchema is the schema of a type expression with its constraints.
// An optional value is nullable (except any: see below); a named type is a $ref, wrapped in allOf
// when it needs a description or nullable (OpenAPI 3.0 ignores the
// siblings of a $ref).
func (g *gen) typeSchema(t *model.TypeRef, description string) *openapi3.SchemaRef {
	var s *openapi3.Schema
	switch t.Kind {
	case model.String:
		if t.Enum != nil && !t.Optional {
			// A named enum is a $ref to its component (wrapped in allOf to
			// carry a description). An optional one is written out, since
			// OpenAPI 3.0 allows null only where the enum lists it.
			r := g.ref(t.Enum.GoName)
			if description == "" {
				return r
			}
			return openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, AllOf: openapi3.SchemaRefs{r}, Description: description})
		}
		s = openapi3.NewStringSchema()
	case model.Int, model.Int64:
		s = openapi3.NewInt64Schema()
	case model.Float64:
		s = openapi3.NewFloat64Schema()
		s.Format = "double"
	case model.Bool:
		s = openapi3.NewBoolSchema()
	case model.Time:
		s = openapi3.NewDateTimeSchema()
	case model.Bytes:
		s = openapi3.NewBytesSchema()
	case model.Any:
		s = &openapi3.Schema{}
	case model.List:
		s = openapi3.NewArraySchema()
		s.Items = g.typeSchema(t.Elem, "")
	case model.Map:
		s = &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}}
		s.AdditionalProperties = openapi3.AdditionalProperties{Schema: g.typeSchema(t.Elem, "")}
	case model.Named:
		r := g.ref(t.Named.GoName)
		if !t.Optional && description == "" {
			return r
		}
		// Named types are objects; the type next to nullable is what
		// OpenAPI 3.0.3 needs for null to be allowed.
		s = &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}, AllOf: openapi3.SchemaRefs{r}}
	default:
		g.fail("unknown type kind %d", t.Kind)
		s = &openapi3.Schema{}
	}
	constrain(s, t)
	// An empty schema (any) has no type for nullable to extend; optional
	// means only that the field may be absent.
	if t.Optional && t.Kind != model.Any {
		s.Nullable = true
		if len(s.Enum) > 0 {
			// OpenAPI 3.0.3: null is allowed only when the enum lists it.
			s.Enum = append(s.Enum, nil)
		}
	}
	s.Description = description
	return openapi3.NewSchemaRef("", s)
}

// constrain maps a type's constraints onto its schema. Lengths are string
// lengths for strings, counts for lists and maps, and for bytes the length of
// their base64 text (the JSON form of bytes).
func constrain(s *openapi3.Schema, t *model.TypeRef) {
	c := t.Constraints
	for _, v := range c.Enum {
		s.Enum = append(s.Enum, v.Value)
	}
	if c.Min != nil {
		v := *c.Min
		s.Min = &v
	}
	if c.Max != nil {
		v := *c.Max
		s.Max = &v
	}
	s.Pattern = c.Pattern
	lo, hi := c.MinLength, c.MaxLength
	if lo == nil && hi == nil {
		return
	}
	var min uint64
	var max *uint64
	conv := func(n int) uint64 { return uint64(n) }
	if t.Kind == model.Bytes {
		conv = func(n int) uint64 { return uint64(base64Len(n)) }
	}
	if lo != nil {
		min = conv(*lo)
	}
	if hi != nil {
		v := conv(*hi)
		max = &v
	}
	switch t.Kind {
	case model.String, model.Bytes:
		s.MinLength, s.MaxLength = min, max
	case model.List:
		s.MinItems, s.MaxItems = min, max
	case model.Map:
		s.MinProps, s.MaxProps = min, max
	}
}

// base64Len is the length of the padded standard base64 text of n bytes.
func base64Len(n int) int { return (n + 2) / 3 * 4 }

// pipelineSchemas defines, for every pipeline, its input struct (the
// execute body), its output struct and the run a finished execute answers.
func (g *gen) pipelineSchemas() {
	for _, p := range g.m.Pipelines {
		in := g.object(p.Inputs, true)
		in.Description = fmt.Sprintf("The inputs of pipeline %s: the body of its execute request.", p.Name)
		g.define(p.InputGoName, in)

		out := g.object(p.Outputs, false)
		out.Description = fmt.Sprintf("The outputs of a succeeded run of pipeline %s.", p.Name)
		g.define(p.OutputGoName, out)

		// A finished run that did not succeed has no outputs: {}.
		outputs := &openapi3.Schema{
			Description: "The pipeline's outputs when the run succeeded; `{}` until then, and for a run that failed or was cancelled.",
			OneOf: openapi3.SchemaRefs{
				g.ref(p.OutputGoName),
				openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}, MaxProps: ptr(uint64(0)), Description: "No outputs."}),
			},
		}
		name := g.names.take(p.GoName + "RunResult")
		g.runResults[p.Name] = name
		g.define(name, g.runSchema(fmt.Sprintf("A run of pipeline %s, with its typed outputs.", p.Name), []any{p.Name}, openapi3.NewSchemaRef("", outputs)))
	}
}

func ptr[T any](v T) *T { return &v }
