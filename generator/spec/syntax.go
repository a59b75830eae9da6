// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/taskwire/taskwire/generator/diag"
)

// YAML syntax errors. yaml.v3 names only a line, and for most parser errors
// that line is where the enclosing mapping or list starts, not where the
// mistake is. yamlError finds the offending line by parsing ever longer
// prefixes of the file (the first prefix that fails ends with it), then reads
// that line for the column and for one of the common causes: an unquoted []T
// type, a tab in the indentation, an unclosed quote or bracket, a key indented
// to no level of the mappings above it.

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// zeroBasedYAMLErrors are the yaml.v3 messages whose "line N" counts from 0
// (it reports the parser's context mark for them); the others count from 1.
var zeroBasedYAMLErrors = []string{"did not find expected", "found a tab character"}

func (p *parser) yamlError(err error, data []byte) {
	p.syntaxError = true
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = n
		}
		msg = m[2]
		for _, prefix := range zeroBasedYAMLErrors {
			if strings.HasPrefix(msg, prefix) {
				line++
				break
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if lines := bytes.Count(data, []byte("\n")) + 1; line > lines {
		line = lines
	}
	pos := diag.Pos{File: p.file, Line: max(line, 1), Col: 1}
	if l, col, hint, ok := locateSyntaxError(data, pos.Line); ok {
		pos.Line, pos.Col = l, col
		if hint != "" {
			msg += "; " + hint
		}
	}
	p.diags.Errorf(pos, "YAML syntax error: %s", msg)
}

// parsesAsYAML reports whether every document of data is well-formed YAML.
func parsesAsYAML(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// srcLine is one line of a spec as the syntax scanner sees it.
type srcLine struct {
	text string
	end  int // offset in the file just past this line and its line break
	// open is set when a quoted string or a flow list or mapping is still
	// open at the end of the line; a prefix cut there is not a fair test.
	open bool
	// opener is the innermost construct still open at the end of the line.
	opener *mark
	// unclosed is a bracket that a closing bracket of the other kind met
	// on this line ([a, b} leaves the [ unclosed).
	unclosed *mark
	// tab is the byte offset of a tab in the line's indentation, or -1.
	tab int
	// bareType is an unquoted type such as []string that YAML reads as a
	// list, with its offset; "" when the line has none.
	bareType    string
	bareTypeCol int
	// content is false for blank lines, comments and block scalar text.
	content bool
}

// mark is an opening quote or bracket.
type mark struct {
	ch   byte
	line int // index into the lines
	off  int // byte offset in the line
}

// scanSource splits data into lines and follows quotes, flow brackets,
// comments and block scalars across them, well enough to name the likely
// cause of a syntax error (it does not validate anything itself).
func scanSource(data []byte) []srcLine {
	var lines []srcLine
	var quote *mark
	var flow []mark
	blockIndent := -1 // indentation of the key owning a block scalar being read, or -1
	for start := 0; start < len(data); {
		end := bytes.IndexByte(data[start:], '\n')
		next := len(data)
		if end >= 0 {
			next = start + end + 1
			end = start + end
		} else {
			end = len(data)
		}
		text := strings.TrimSuffix(string(data[start:end]), "\r")
		l := srcLine{text: text, end: next, tab: -1}
		idx := len(lines)
		start = next

		indent := len(text) - len(strings.TrimLeft(text, " "))
		blank := strings.TrimSpace(text) == ""
		if blockIndent >= 0 && quote == nil && len(flow) == 0 {
			if blank || indent > blockIndent {
				lines = append(lines, l)
				continue
			}
			blockIndent = -1
		}
		if quote == nil && len(flow) == 0 && !blank {
			ws := len(text) - len(strings.TrimLeft(text, " \t"))
			if t := strings.IndexByte(text[:ws], '\t'); t >= 0 {
				l.tab = t
			}
		}
		canStart := true // a node (scalar, quote, bracket) may start here
		plain := -1      // offset where the current plain scalar began
		i := 0
		for i < len(text) {
			c := text[i]
			if quote != nil {
				switch {
				case quote.ch == '"' && c == '\\':
					i++
				case quote.ch == '\'' && c == '\'' && i+1 < len(text) && text[i+1] == '\'':
					i++
				case c == quote.ch:
					quote = nil
					canStart = false
				}
				i++
				continue
			}
			space := c == ' ' || c == '\t'
			switch {
			case space:
			case c == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t'):
				i = len(text)
				continue
			case (c == '"' || c == '\'') && canStart:
				quote = &mark{ch: c, line: idx, off: i}
			case c == '[' || c == '{':
				if !canStart && len(flow) == 0 {
					break // inside a block plain scalar such as a[b]
				}
				if c == '[' && l.bareType == "" {
					switch {
					case canStart && strings.HasPrefix(text[i:], "[]") && i+2 < len(text) && isTypeChar(text[i+2]):
						l.bareType, l.bareTypeCol = typeToken(text[i:]), i
					case !canStart && plain >= 0:
						l.bareType, l.bareTypeCol = typeToken(text[plain:]), plain
					}
				}
				flow = append(flow, mark{ch: c, line: idx, off: i})
				canStart = true
				plain = -1
				i++
				continue
			case (c == ']' || c == '}') && len(flow) > 0:
				top := flow[len(flow)-1]
				flow = flow[:len(flow)-1]
				if want := closer(top.ch); c != want {
					if l.unclosed == nil {
						l.unclosed = &top
					}
					if len(flow) > 0 && closer(flow[len(flow)-1].ch) == c {
						flow = flow[:len(flow)-1] // [a, b} most likely meant [a, b]}
					}
				}
				canStart = false
				plain = -1
			case c == ',' && len(flow) > 0:
				canStart = true
				plain = -1
				i++
				continue
			case c == ':' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\t' || (len(flow) > 0 && strings.IndexByte(",]}", text[i+1]) >= 0)):
				rest := strings.TrimSpace(text[i+1:])
				if len(flow) == 0 && (strings.HasPrefix(rest, "|") || strings.HasPrefix(rest, ">")) && blockHeaderRE.MatchString(rest) {
					blockIndent = indent
					i = len(text)
					continue
				}
				canStart = true
				plain = -1
				i++
				continue
			case c == '-' && canStart && (i+1 == len(text) || text[i+1] == ' '):
				i++
				continue
			default:
				if canStart {
					plain = i
				}
				canStart = false
			}
			i++
		}
		l.content = !blank && !strings.HasPrefix(strings.TrimSpace(text), "#")
		switch {
		case quote != nil:
			l.open, l.opener = true, quote
		case len(flow) > 0:
			top := flow[len(flow)-1]
			l.open, l.opener = true, &top
		}
		lines = append(lines, l)
	}
	return lines
}

var blockHeaderRE = regexp.MustCompile(`^[|>][0-9+-]*\s*(#.*)?$`)

func closer(open byte) byte {
	if open == '[' {
		return ']'
	}
	return '}'
}

func isTypeChar(c byte) bool {
	return c == '[' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// typeToken returns the type written at the start of s: up to a space, a
// comma or a closing brace, without the closing brackets that belong to an
// enclosing flow list.
func typeToken(s string) string {
	end := strings.IndexAny(s, " \t,}#")
	if end < 0 {
		end = len(s)
	}
	tok := s[:end]
	for strings.HasSuffix(tok, "]") && strings.Count(tok, "]") > strings.Count(tok, "[") {
		tok = tok[:len(tok)-1]
	}
	return tok
}

// locateSyntaxError finds the line and column of the first YAML syntax error
// in data and, when it recognises the cause, a hint. near is the line yaml.v3
// reported. ok is false when no prefix of the file fails on its own.
func locateSyntaxError(data []byte, near int) (line, col int, hint string, ok bool) {
	lines := scanSource(data)
	// Cut points: prefixes ending outside any quote or flow collection.
	cuts := []int{0}
	for i, l := range lines {
		if !l.open && i < len(lines)-1 {
			cuts = append(cuts, i+1)
		}
	}
	cuts = append(cuts, len(lines))
	prefix := func(n int) []byte {
		if n == 0 {
			return nil
		}
		return data[:lines[n-1].end]
	}
	if len(lines) == 0 || parsesAsYAML(prefix(len(lines))) {
		return 0, 0, "", false
	}
	// The error lies at or after the line yaml.v3 named (where the enclosing
	// node starts), usually a few lines after it: gallop from there, then
	// bisect, so a large file is parsed only a few times.
	lo, hi := 0, len(cuts)-1 // prefix(cuts[lo]) parses, prefix(cuts[hi]) does not
	for i := len(cuts) - 1; i > 0; i-- {
		if cuts[i] < near {
			if parsesAsYAML(prefix(cuts[i])) {
				lo = i
			}
			break
		}
	}
	for step := 1; lo+step < hi; step *= 2 {
		if !parsesAsYAML(prefix(cuts[lo+step])) {
			hi = lo + step
			break
		}
		lo += step
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if parsesAsYAML(prefix(cuts[mid])) {
			lo = mid
		} else {
			hi = mid
		}
	}
	first, last := cuts[lo], cuts[hi]-1 // indexes of the lines added by the failing cut
	for i := first; i <= last; i++ {
		if lines[i].tab >= 0 {
			return i + 1, column(lines[i].text, lines[i].tab), "a tab indents this line, and YAML indents with spaces only: replace the tab with spaces", true
		}
	}
	for i := first; i <= last; i++ {
		if t := lines[i].bareType; t != "" {
			return i + 1, column(lines[i].text, lines[i].bareTypeCol), fmt.Sprintf("the type %s must be quoted, because [ starts a YAML list here: write %q", t, t), true
		}
	}
	l := lines[first]
	for i := first; i <= last; i++ {
		if o := lines[i].unclosed; o != nil {
			what, met := "list", byte('}')
			if o.ch == '{' {
				what, met = "mapping", ']'
			}
			return o.line + 1, column(lines[o.line].text, o.off), fmt.Sprintf("the %s opened by %c here is not closed: end it with %c before the %c", what, o.ch, closer(o.ch), met), true
		}
	}
	if o := l.opener; o != nil {
		text := lines[o.line].text
		switch o.ch {
		case '"', '\'':
			return o.line + 1, column(text, o.off), fmt.Sprintf("the string opened by %c here does not end on this line: close it with %c", o.ch, o.ch), true
		case '[':
			return o.line + 1, column(text, o.off), "the list opened by [ here is not closed: end it with ]", true
		default:
			return o.line + 1, column(text, o.off), "the mapping opened by { here is not closed: end it with }", true
		}
	}
	indent := len(l.text) - len(strings.TrimLeft(l.text, " "))
	if h := indentHint(lines[:first], l.text, indent); h != "" {
		return first + 1, indent + 1, h, true
	}
	return first + 1, indent + 1, "", true
}

var keyRE = regexp.MustCompile(`^( *)(- +)?([^\s#:'"\[\]{},-][^:#]*?|"[^"]*"|'[^']*'):( |$)`)

// indentHint explains a key (the failing line text, indented by indent
// spaces) that sits at no level of the block mappings above it.
func indentHint(before []srcLine, text string, indent int) string {
	m := keyRE.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	key := strings.TrimSpace(m[3])
	type level struct {
		indent, line int
		key          string
		hasValue     bool
	}
	var chain []level // the keys enclosing the line before, outermost first
	for i, l := range before {
		if !l.content || (i > 0 && before[i-1].open) {
			continue
		}
		km := keyRE.FindStringSubmatch(l.text)
		if km == nil {
			continue
		}
		ind := len(km[1]) + len(km[2])
		for len(chain) > 0 && chain[len(chain)-1].indent >= ind {
			chain = chain[:len(chain)-1]
		}
		value := strings.TrimSpace(l.text[len(km[0]):])
		hasValue := value != "" && !strings.HasPrefix(value, "#")
		chain = append(chain, level{indent: ind, line: i + 1, key: strings.TrimSpace(km[3]), hasValue: hasValue})
	}
	if len(chain) == 0 {
		return ""
	}
	ind := len(m[1]) + len(m[2])
	prev := chain[len(chain)-1]
	if ind > prev.indent && prev.hasValue {
		return fmt.Sprintf("%q is indented deeper than %q on line %d, which already has a value: align it with %q (column %d)", key, prev.key, prev.line, prev.key, prev.indent+1)
	}
	var above, below *level
	for i := range chain {
		switch c := &chain[i]; {
		case c.indent == ind:
			return ""
		case c.indent > ind && above == nil:
			above = c
		case c.indent < ind:
			below = c
		}
	}
	if above == nil {
		return ""
	}
	h := fmt.Sprintf("%q is indented %d spaces, like no key above it: align it with %q (line %d, column %d)", key, ind, above.key, above.line, above.indent+1)
	if below != nil {
		h += fmt.Sprintf(" or with %q (line %d, column %d)", below.key, below.line, below.indent+1)
	}
	return h
}

// column turns a byte offset in text into a 1-based column counted in
// characters, as yaml.v3 counts them.
func column(text string, off int) int {
	return utf8.RuneCountInString(text[:min(off, len(text))]) + 1
}
