// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"fmt"
	"strings"
	"testing"
)

// TestSyntaxErrorPositions checks that YAML syntax errors point at the
// offending token, past constructs that look alike but are valid: multi-line
// flow mappings, block scalars holding quotes and brackets, comments with
// quotes, CRLF line breaks.
func TestSyntaxErrorPositions(t *testing.T) {
	cases := []struct {
		name, src, pos, hint string
	}{
		{"after valid look-alikes", "taskwire: 1\ntasks:\n  t:\n    inputs: {x: string,\n             y: int}\n    description: |\n      it's \"quoted\" [ and { open\n    output: y  # it's a comment with \"quote\n    bad: []int\n",
			"9:10", `write "[]int"`},
		{"inside a multi-line flow mapping", "a: 1\nb: {x: string,\n    y: []string}\n", "3:8", `write "[]string"`},
		{"nested list type", "a:\n  b: [][]int\n", "2:6", `write "[][]int"`},
		{"CRLF", "taskwire: 1\r\ntasks:\r\n  t:\r\n    inputs:\r\n      x: []string\r\n", "5:10", `write "[]string"`},
		{"quote inside a flow list", "a:\n  y: [a, \"b]\n", "2:10", `close it with "`},
		{"single quote", "a:\n  b: 'it''s open\n", "2:6", `close it with '`},
		{"unclosed flow mapping", "a:\n  b: {x: 1\n  c: 2\n", "2:6", "end it with }"},
		{"tab after spaces", "a:\n  b: 1\n \tc: 2\n", "3:2", "replace the tab with spaces"},
		{"key deeper than a value", "a: 1\n  b: 2\n", "2:3", `align it with "a" (column 1)`},
		{"list entry key", "tasks:\n  - t:\n      inputs: x\n     output: y\n", "4:6", `align it with "inputs" (line 3, column 7) or with "t" (line 2, column 5)`},
		{"non-ASCII before the token", "a:\n  é: {x: []int}\n", "2:10", `write "[]int"`},
		{"no known cause", "a:\n  x: - string\n", "2:3", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ds := Parse("s.yaml", []byte(c.src))
			if len(ds) != 1 || !strings.Contains(ds[0].Message, "YAML syntax error") {
				t.Fatalf("diagnostics = %v, want one YAML syntax error", ds)
			}
			d := ds[0]
			if got := fmt.Sprintf("%d:%d", d.Pos.Line, d.Pos.Col); got != c.pos {
				t.Errorf("at %s, want %s: %s", got, c.pos, d.Message)
			}
			if c.hint == "" && strings.Count(d.Message, ";") > 0 {
				t.Errorf("a hint where none fits: %s", d.Message)
			}
			if !strings.Contains(d.Message, c.hint) {
				t.Errorf("message %q lacks %q", d.Message, c.hint)
			}
		})
	}
}
