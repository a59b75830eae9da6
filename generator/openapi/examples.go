// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/taskwire/taskwire/generator/model"
)

// Bounds past which an example would be too big to be useful: no example is
// given rather than a megabyte of "x".
const (
	maxExampleLength = 256
	maxExampleItems  = 16
)

// exampler builds example values that satisfy a type and its constraints:
// strings are "example" (or the first enum value, or a string built from the
// pattern), numbers their minimum or 0, booleans false, lists and maps one
// element. ok is false when it cannot find a valid value.
type exampler struct {
	visiting map[*model.Type]bool
}

func newExampler() *exampler { return &exampler{visiting: map[*model.Type]bool{}} }

// object is an example of an object with fields; optional fields are
// included when an example of them exists.
func (e *exampler) object(fields []*model.Field) (map[string]any, bool) {
	out := map[string]any{}
	for _, f := range fields {
		v, ok := e.value(f.Type)
		switch {
		case ok:
			out[f.Name] = v
		case !f.Type.Optional:
			return nil, false
		}
	}
	return out, true
}

func (e *exampler) value(t *model.TypeRef) (any, bool) {
	c := t.Constraints
	switch t.Kind {
	case model.String:
		return stringExample(c)
	case model.Int, model.Int64:
		v := number(c)
		return int64(v), v == math.Trunc(v)
	case model.Float64:
		return number(c), true
	case model.Bool:
		return false, true
	case model.Time:
		return exampleTime, true
	case model.Bytes:
		n := len("example")
		if c.MinLength != nil && *c.MinLength > n {
			n = *c.MinLength
		}
		if c.MaxLength != nil && *c.MaxLength < n {
			n = *c.MaxLength
		}
		if n > maxExampleLength {
			return nil, false
		}
		b := []byte(strings.Repeat("example", n/7+1))[:n]
		return base64.StdEncoding.EncodeToString(b), true
	case model.Any:
		return "example", true
	case model.List, model.Map:
		n, ok := count(c)
		if !ok {
			return nil, false
		}
		var elem any
		if n > 0 {
			if elem, ok = e.value(t.Elem); !ok {
				if c.MinLength != nil && *c.MinLength > 0 {
					return nil, false
				}
				n = 0 // a recursive type: an empty list or map ends it
			}
		}
		if t.Kind == model.List {
			out := make([]any, n)
			for i := range out {
				out[i] = elem
			}
			return out, true
		}
		out := map[string]any{}
		for i := range n {
			key := "key"
			if i > 0 {
				key = fmt.Sprintf("key%d", i+1)
			}
			out[key] = elem
		}
		return out, true
	case model.Named:
		if e.visiting[t.Named] {
			return nil, false
		}
		e.visiting[t.Named] = true
		defer delete(e.visiting, t.Named)
		return e.object(t.Named.Fields)
	}
	return nil, false
}

// number is the minimum, or 0 when the range allows it, or the maximum.
func number(c model.Constraints) float64 {
	switch {
	case c.Min != nil:
		return *c.Min
	case c.Max != nil && *c.Max < 0:
		return *c.Max
	}
	return 0
}

// count is the number of elements of a list or map example: one, or as
// many as min_length asks for, or none when max_length is 0.
func count(c model.Constraints) (int, bool) {
	n := 1
	if c.MinLength != nil && *c.MinLength > n {
		n = *c.MinLength
	}
	if c.MaxLength != nil && *c.MaxLength < n {
		n = *c.MaxLength
	}
	return n, n <= maxExampleItems
}

func stringExample(c model.Constraints) (string, bool) {
	if len(c.Enum) > 0 {
		return c.Enum[0].Value, true
	}
	var re *regexp.Regexp
	candidates := []string{"example"}
	if c.Pattern != "" {
		var err error
		if re, err = regexp.Compile(c.Pattern); err != nil {
			return "", false
		}
		if s, ok := patternExample(c.Pattern); ok {
			candidates = []string{s, "example"}
		}
	}
	for _, s := range candidates {
		s = fitLength(s, c)
		n := utf8.RuneCountInString(s)
		if c.MinLength != nil && n < *c.MinLength || c.MaxLength != nil && n > *c.MaxLength {
			continue
		}
		if re != nil && !re.MatchString(s) {
			continue
		}
		return s, true
	}
	return "", false
}

// fitLength pads s with its last character, or cuts it, to fit the length
// constraints.
func fitLength(s string, c model.Constraints) string {
	r := []rune(s)
	if c.MinLength != nil && len(r) < *c.MinLength && *c.MinLength <= maxExampleLength {
		pad := 'x'
		if len(r) > 0 {
			pad = r[len(r)-1]
		}
		for len(r) < *c.MinLength {
			r = append(r, pad)
		}
	}
	if c.MaxLength != nil && len(r) > *c.MaxLength {
		r = r[:*c.MaxLength]
	}
	return string(r)
}

// patternExample builds a short string the pattern matches: the first
// branch of every alternation, the minimum of every repetition, a letter or
// digit of every class where it has one.
func patternExample(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	if !writeExample(&b, re.Simplify()) {
		return "", false
	}
	return b.String(), true
}

func writeExample(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return false
		}
		b.WriteRune(pickRune(re.Rune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteRune('a')
	case syntax.OpCapture, syntax.OpPlus:
		return writeExample(b, re.Sub[0])
	case syntax.OpRepeat:
		for range re.Min {
			if !writeExample(b, re.Sub[0]) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !writeExample(b, sub) {
				return false
			}
		}
	case syntax.OpAlternate:
		return writeExample(b, re.Sub[0])
	case syntax.OpStar, syntax.OpQuest, syntax.OpEmptyMatch,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
	default:
		return false
	}
	return true
}

// pickRune picks a readable rune of a class given as [lo, hi] pairs.
func pickRune(ranges []rune) rune {
	for _, want := range []rune{'a', 'A', '0', 'x', '_', '-'} {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= want && want <= ranges[i+1] {
				return want
			}
		}
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if r > ' ' && r < utf8.RuneSelf && r != 0x7f {
				return r
			}
			if r-ranges[i] > 128 {
				break
			}
		}
	}
	return ranges[0]
}
