// SPDX-License-Identifier: Apache-2.0

// Package schema validates JSON request bodies against the types a spec
// declares and decodes them into the generated Go types.
//
// Validation is strict: the body must be one JSON value of the declared shape
// with no trailing data, no duplicate keys, no unknown fields and no missing
// required fields (status 400), and every value must satisfy the declared
// constraints (status 422). Every problem is reported with the path of the
// offending value, so a client can fix a request in one round trip.
//
// Generated code builds one Schema per type as package-level variables and
// calls Decode from its HTTP handlers:
//
//	var resultSchema = &schema.Schema{Kind: schema.Object, Name: "Result"}
//
//	func init() {
//		resultSchema.Fields = []schema.Field{
//			{Name: "status", Schema: &schema.Schema{Kind: schema.String, Enum: []string{"ok", "failed"}}},
//			{Name: "children", Schema: &schema.Schema{Kind: schema.List, Elem: resultSchema}, Optional: true},
//		}
//	}
package schema

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
)

// Kind is the kind of a value a Schema describes.
type Kind uint8

// The kinds of values. The comment of each gives the JSON it accepts and the
// Go type generated code decodes it into.
const (
	String  Kind = iota // a JSON string; string
	Int                 // an integer literal within the range of int; int
	Int64               // an integer literal within the range of int64; int64
	Float64             // a JSON number within the range of float64; float64
	Bool                // true or false; bool
	Time                // an RFC 3339 string, as time.Time.UnmarshalJSON accepts it; time.Time
	Bytes               // a standard base64 string, as encoding/json decodes it; []byte
	Any                 // any JSON value, null included; any
	List                // a JSON array of Elem; a slice
	Map                 // a JSON object with arbitrary keys and Elem values; map[string]T
	Object              // a JSON object with exactly the Fields; a struct
)

var kindNames = [...]string{
	String:  "string",
	Int:     "int",
	Int64:   "int64",
	Float64: "float64",
	Bool:    "bool",
	Time:    "time",
	Bytes:   "bytes",
	Any:     "any",
	List:    "list",
	Map:     "map",
	Object:  "object",
}

// String returns the spec's name of the kind ("string", "int64", "list").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// MaxDepth is how deeply arrays and objects may nest in a body: the body
// itself, if an array or object, is level 1.
const MaxDepth = 64

// MaxErrors is the most FieldErrors an Error holds. Past it, Decode stops
// checking constraints and only makes sure that the body is well-formed and
// whether any problem makes it a 400.
const MaxErrors = 100

// ErrInvalidSchema is wrapped by the error Compile returns, and by the error
// Decode and Validate return, for a Schema that cannot be used: a nil Schema,
// an unknown Kind, a List or Map without Elem, a Pattern that does not
// compile, a NaN bound, a negative length or two fields of the same name.
var ErrInvalidSchema = errors.New("invalid schema")

// Schema describes the JSON a value must be.
//
// Int and Int64 accept integer literals only: 1.0 and 1e3 are refused (400),
// as encoding/json refuses them for Go integers. Min and Max are compared
// exactly with the number the body holds, at any precision: with the bound
// itself for Int and Int64 (9007199254740993 is above a Max of
// 9007199254740992), and with the shortest decimal that is the bound for
// Float64 (0.1 satisfies a Min of 0.1, 0.09999999999999999999 does not). An
// optional value (a Field with Optional) may be absent or null; a null
// anywhere else is a wrong type, except for Any.
//
// Generated code builds Schemas as package-level variables and fills Fields
// in init() so that recursive types can point at themselves. A Schema must
// not be modified or copied once it has been used: Compile, Decode and
// Validate prepare it (compiling Pattern, indexing Fields) once and keep the
// result in it. A prepared Schema is safe for concurrent use.
type Schema struct {
	Kind      Kind
	Name      string   // Object: the type's name, for messages
	Elem      *Schema  // List and Map: the schema of elements or values
	Fields    []Field  // Object: in declaration order
	Enum      []string // String: the only values allowed
	Min, Max  *float64 // Int, Int64, Float64: inclusive bounds
	MinLength *int     // String (runes), Bytes (decoded bytes), List (items), Map (entries)
	MaxLength *int
	Pattern   string // String: RE2, matched unanchored like JSON Schema's pattern

	once sync.Once // guards prep
	prep prepared

	graphOnce sync.Once // guards graphErr: the whole graph reachable from this Schema
	graphErr  error
}

// Field is one field of an Object.
type Field struct {
	Name     string // the JSON key, compared exactly (case-sensitive)
	Schema   *Schema
	Optional bool // the field may be absent or null
}

// prepared is what a Schema needs at validation time, computed once.
type prepared struct {
	err       error
	re        *regexp.Regexp
	enumSet   map[string]struct{} // for long enums
	index     map[string]int      // field name -> index, for many fields
	required  int                 // number of non-optional fields
	typeMsg   string              // "must be a string"
	enumMsg   string
	minMsg    string
	maxMsg    string
	minLenMsg string
	maxLenMsg string
	patMsg    string
	minDec    decimal // Min and Max in shortest decimal, for exact comparisons
	maxDec    decimal
}

// Helpers for building schemas in generated code and tests.

// Float returns a pointer to v, for Min and Max.
func Float(v float64) *float64 { return &v }

// Len returns a pointer to n, for MinLength and MaxLength.
func Len(n int) *int { return &n }

// Compile prepares s and every Schema reachable from it for use, and reports
// the first problem that makes one of them unusable, wrapping
// ErrInvalidSchema. Decode and Validate call it; generated code may call it
// at start-up to fail early. It is safe to call more than once and
// concurrently; the result does not change.
func (s *Schema) Compile() error {
	if s == nil {
		return fmt.Errorf("%w: nil schema", ErrInvalidSchema)
	}
	s.graphOnce.Do(func() { s.graphErr = compileGraph(s) })
	return s.graphErr
}

// compileGraph prepares every node reachable from root, iteratively so that
// recursive schemas are fine.
func compileGraph(root *Schema) error {
	type item struct {
		s     *Schema
		where string
	}
	seen := map[*Schema]bool{root: true}
	stack := []item{{root, "schema"}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		it.s.prepare()
		if err := it.s.prep.err; err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidSchema, it.where, err)
		}
		push := func(c *Schema, where string) error {
			if c == nil {
				return fmt.Errorf("%w: %s: nil schema", ErrInvalidSchema, where)
			}
			if !seen[c] {
				seen[c] = true
				stack = append(stack, item{c, where})
			}
			return nil
		}
		switch it.s.Kind {
		case List, Map:
			if err := push(it.s.Elem, it.where+" element"); err != nil {
				return err
			}
		case Object:
			// Push in reverse so that problems are found in declaration order.
			for i := len(it.s.Fields) - 1; i >= 0; i-- {
				f := &it.s.Fields[i]
				if err := push(f.Schema, describe(it.s)+" field "+strconv.Quote(f.Name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func describe(s *Schema) string {
	if s.Name != "" {
		return s.Name
	}
	return "object"
}

func (s *Schema) prepare() {
	s.once.Do(func() { s.prep.err = s.prepareNode() })
}

func (s *Schema) prepareNode() error {
	p := &s.prep
	switch s.Kind {
	case String:
		p.typeMsg = "must be a string"
	case Int, Int64:
		p.typeMsg = "must be an integer"
	case Float64:
		p.typeMsg = "must be a number"
	case Bool:
		p.typeMsg = "must be a boolean"
	case Time:
		p.typeMsg = "must be an RFC 3339 time"
	case Bytes:
		p.typeMsg = "must be base64-encoded bytes"
	case Any:
	case List:
		p.typeMsg = "must be an array"
	case Map, Object:
		p.typeMsg = "must be an object"
	default:
		return fmt.Errorf("unknown kind %d", s.Kind)
	}
	if (s.Kind == List || s.Kind == Map) && s.Elem == nil {
		return fmt.Errorf("%v without Elem", s.Kind)
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return fmt.Errorf("pattern %q: %v", s.Pattern, err)
		}
		p.re = re
		p.patMsg = "must match pattern " + s.Pattern
	}
	if len(s.Enum) > 0 {
		p.enumMsg = fmt.Sprintf("must be one of %v", s.Enum)
		if len(s.Enum) > 8 {
			p.enumSet = make(map[string]struct{}, len(s.Enum))
			for _, e := range s.Enum {
				p.enumSet[e] = struct{}{}
			}
		}
	}
	if s.Min != nil {
		if math.IsNaN(*s.Min) {
			return errors.New("Min is NaN")
		}
		p.minMsg = "must be at least " + formatNumber(*s.Min)
		p.minDec = boundDecimal(*s.Min)
	}
	if s.Max != nil {
		if math.IsNaN(*s.Max) {
			return errors.New("Max is NaN")
		}
		p.maxMsg = "must be at most " + formatNumber(*s.Max)
		p.maxDec = boundDecimal(*s.Max)
	}
	unit := "characters"
	switch s.Kind {
	case Bytes:
		unit = "bytes"
	case List:
		unit = "items"
	case Map:
		unit = "entries"
	}
	if s.MinLength != nil {
		if *s.MinLength < 0 {
			return fmt.Errorf("MinLength %d is negative", *s.MinLength)
		}
		p.minLenMsg = fmt.Sprintf("must be at least %d %s long", *s.MinLength, unit)
	}
	if s.MaxLength != nil {
		if *s.MaxLength < 0 {
			return fmt.Errorf("MaxLength %d is negative", *s.MaxLength)
		}
		p.maxLenMsg = fmt.Sprintf("must be at most %d %s long", *s.MaxLength, unit)
	}
	if s.Kind == Object {
		if len(s.Fields) > 8 {
			p.index = make(map[string]int, len(s.Fields))
		}
		names := make(map[string]bool, len(s.Fields))
		for i, f := range s.Fields {
			if names[f.Name] {
				return fmt.Errorf("field %q declared twice", f.Name)
			}
			names[f.Name] = true
			if p.index != nil {
				p.index[f.Name] = i
			}
			if !f.Optional {
				p.required++
			}
		}
	}
	return nil
}

// formatNumber formats a bound the way encoding/json writes a float64.
func formatNumber(f float64) string {
	if math.IsInf(f, 0) {
		if f > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	abs := math.Abs(f)
	if abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	b := strconv.AppendFloat(nil, f, 'e', -1, 64)
	// Clean up e-09 to e-9, as encoding/json does.
	if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return string(b)
}
