// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a request body that does not satisfy its Schema.
type Error struct {
	// Status is http.StatusBadRequest (400) when the body is not a
	// well-formed instance of the schema's shape: malformed JSON, trailing
	// data, a duplicate key, an unknown field, a value of the wrong JSON
	// type, a missing required field or nesting deeper than MaxDepth. It is
	// http.StatusUnprocessableEntity (422) when every value has the right
	// type but some break a constraint (Enum, Min, Max, MinLength,
	// MaxLength, Pattern). When both kinds of problems occur, it is 400.
	Status int

	// Errors lists the problems, sorted by path then message, without
	// duplicates, at most MaxErrors of them. A malformed body has exactly one,
	// at the empty path.
	Errors []FieldError
}

// FieldError is one problem in a body.
type FieldError struct {
	// Path locates the offending value: object keys joined with ".", list
	// indexes as "[i]", and keys that are not made only of ASCII letters,
	// digits, "_" and "-" as ["key"] (JSON-quoted), as in
	// `sections[2].heading` or `labels["a b"]`. A key longer than 128 bytes
	// is cut, as in `labels["aaaa..."]`. The body itself is "".
	Path string `json:"path"`

	// Message is a short lowercase phrase such as "required",
	// "unknown field" or "must be one of [ok failed]".
	Message string `json:"message"`
}

// errorsShown is how many problems Error.Error spells out.
const errorsShown = 3

// Error returns the first few problems as "path: message", joined with "; ",
// followed by "and N more" if there are more.
func (e *Error) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i == errorsShown {
			b.WriteString("; and ")
			b.WriteString(strconv.Itoa(len(e.Errors) - i))
			b.WriteString(" more")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.String())
	}
	if len(e.Errors) == 0 {
		b.WriteString(http.StatusText(e.Status))
	}
	return b.String()
}

// String returns "path: message", or the message alone for the body itself.
func (fe FieldError) String() string {
	if fe.Path == "" {
		return fe.Message
	}
	return fe.Path + ": " + fe.Message
}

// comparePaths orders paths as strings, except that list indexes compare as
// numbers, so that "a[2]" comes before "a[10]".
func comparePaths(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] == b[j] && a[i] == '[' && i+1 < len(a) && j+1 < len(b) && isDigit(a[i+1]) && isDigit(b[j+1]) {
			i++
			j++
			ei, ej := i, j
			for ei < len(a) && isDigit(a[ei]) {
				ei++
			}
			for ej < len(b) && isDigit(b[ej]) {
				ej++
			}
			// Indexes have no leading zeros: the longer is the larger.
			if c := compareInts(ei-i, ej-j); c != 0 {
				return c
			}
			if c := strings.Compare(a[i:ei], b[j:ej]); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if a[i] != b[j] {
			return compareInts(int(a[i]), int(b[j]))
		}
		i++
		j++
	}
	return compareInts(len(a)-i, len(b)-j)
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// seg is one step of a path: an index, a field name or a key as it appears
// in the body (decoded).
type seg struct {
	idx   int
	name  string
	key   []byte
	isIdx bool
}

func appendPath(b []byte, path []seg) []byte {
	for _, s := range path {
		switch {
		case s.isIdx:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
		case s.key != nil:
			b = appendKey(b, s.key)
		default:
			b = appendKey(b, []byte(s.name))
		}
	}
	return b
}

func appendKey(b, key []byte) []byte {
	plain := len(key) > 0 && len(key) <= maxPathKey
	for _, c := range key {
		if !(c == '_' || c == '-' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			plain = false
			break
		}
	}
	if plain {
		if len(b) > 0 {
			b = append(b, '.')
		}
		return append(b, key...)
	}
	b = append(b, '[')
	if len(key) > maxPathKey {
		// Long keys are cut so that a path stays short, whatever the body.
		n := maxPathKey
		for n > 0 && !utf8.RuneStart(key[n]) {
			n--
		}
		b = appendQuoted(b, key[:n])
		b = append(b[:len(b)-1], "...\""...)
	} else {
		b = appendQuoted(b, key)
	}
	return append(b, ']')
}

// maxPathKey is the most bytes of a key a path shows.
const maxPathKey = 128

// appendQuoted appends s as a JSON string. s is valid UTF-8.
func appendQuoted(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
