// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the JSON scanner: it follows RFC 8259 exactly, accepts
// what json.Valid accepts except invalid UTF-8 (which RFC 8259 forbids), and
// never recurses, so that no input can exhaust the stack.

// bad reports whether the body has been found malformed; every walker
// function returns as soon as it is.
func (w *walker) bad() bool { return w.synMsg != "" }

// fail records that the body is malformed at byte offset off.
func (w *walker) fail(off int, msg string) {
	if w.synMsg == "" {
		w.synOff, w.synMsg = off, msg
	}
}

func (w *walker) eof() { w.fail(len(w.data), "unexpected end of JSON input") }

// failChar records an unexpected character at w.pos.
func (w *walker) failChar(context string) {
	w.fail(w.pos, "invalid character "+quoteChar(w.data[w.pos])+" "+context)
}

// quoteChar formats c the way encoding/json's errors do.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func (w *walker) ws() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// more skips whitespace and reports whether a byte follows, recording
// unexpected end of input if not.
func (w *walker) more() bool {
	w.ws()
	if w.pos >= len(w.data) {
		w.eof()
		return false
	}
	return true
}

// scanString scans the string starting at w.pos (a '"') and returns its
// content between the quotes, still escaped, and whether it holds escapes.
func (w *walker) scanString() (raw []byte, escaped bool) {
	data := w.data
	start := w.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			w.pos = i + 1
			return data[start:i], escaped
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				w.eof()
				return nil, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				i += 2
				for k := 0; k < 4; k++ {
					if i >= len(data) {
						w.eof()
						return nil, false
					}
					if !isHex(data[i]) {
						w.pos = i
						w.failChar("in \\u hexadecimal character escape")
						return nil, false
					}
					i++
				}
			default:
				w.pos = i + 1
				w.failChar("in string escape code")
				return nil, false
			}
		case c < 0x20:
			w.pos = i
			w.failChar("in string literal")
			return nil, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				w.fail(i, "invalid UTF-8 in string")
				return nil, false
			}
			i += size
		}
	}
	w.eof()
	return nil, false
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func hexVal(c byte) rune {
	switch {
	case c <= '9':
		return rune(c - '0')
	case c <= 'F':
		return rune(c - 'A' + 10)
	}
	return rune(c - 'a' + 10)
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// unescape appends to dst the string raw (as scanString returned it) means,
// decoding escapes exactly as encoding/json does: a \u escape of a lone
// surrogate becomes U+FFFD.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// number describes a scanned number literal.
type number struct {
	lit      []byte
	integral bool // no fraction and no exponent
}

// scanNumber scans the number starting at w.pos.
func (w *walker) scanNumber() (n number) {
	data := w.data
	start := w.pos
	i := start
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		w.eof()
		return
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		w.pos = i
		w.failChar("in numeric literal")
		return
	}
	n.integral = true
	if i < len(data) && data[i] == '.' {
		n.integral = false
		i++
		if i >= len(data) {
			w.eof()
			return
		}
		if !isDigit(data[i]) {
			w.pos = i
			w.failChar("after decimal point in numeric literal")
			return
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		n.integral = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) {
			w.eof()
			return
		}
		if !isDigit(data[i]) {
			w.pos = i
			w.failChar("in exponent of numeric literal")
			return
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	w.pos = i
	n.lit = data[start:i]
	return n
}

// scanLiteral scans true, false or null, whichever starts at w.pos, and
// returns its first byte.
func (w *walker) scanLiteral() byte {
	var want string
	switch c := w.data[w.pos]; c {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		w.failChar("looking for beginning of value")
		return 0
	}
	for k := 1; k < len(want); k++ {
		i := w.pos + k
		if i >= len(w.data) {
			w.eof()
			return 0
		}
		if w.data[i] != want[k] {
			w.pos = i
			w.failChar("in literal " + want + " (expecting " + quoteChar(want[k]) + ")")
			return 0
		}
	}
	w.pos += len(want)
	return want[0]
}

// objectKey scans `"key" :` at w.pos (after optional whitespace) and returns
// the raw key.
func (w *walker) objectKey() (raw []byte, escaped bool, ok bool) {
	if !w.more() {
		return nil, false, false
	}
	if w.data[w.pos] != '"' {
		w.failChar("looking for beginning of object key string")
		return nil, false, false
	}
	raw, escaped = w.scanString()
	if w.bad() || !w.more() {
		return nil, false, false
	}
	if w.data[w.pos] != ':' {
		w.failChar("after object key")
		return nil, false, false
	}
	w.pos++
	return raw, escaped, true
}

// skip scans one value at w.pos without validating it against a schema,
// iteratively, at any depth.
func (w *walker) skip() {
	base := len(w.stack)
	defer func() { w.stack = w.stack[:base] }()
value:
	for {
		if !w.more() {
			return
		}
		switch c := w.data[w.pos]; {
		case c == '{':
			w.pos++
			if !w.more() {
				return
			}
			if w.data[w.pos] == '}' {
				w.pos++
				break
			}
			w.stack = append(w.stack, '{')
			if _, _, ok := w.objectKey(); !ok {
				return
			}
			continue value
		case c == '[':
			w.pos++
			if !w.more() {
				return
			}
			if w.data[w.pos] == ']' {
				w.pos++
				break
			}
			w.stack = append(w.stack, '[')
			continue value
		case c == '"':
			w.scanString()
		case c == '-' || isDigit(c):
			w.scanNumber()
		default:
			w.scanLiteral()
		}
		if w.bad() {
			return
		}
		// After a value: close containers or move to the next element.
		for len(w.stack) > base {
			if !w.more() {
				return
			}
			c := w.data[w.pos]
			if w.stack[len(w.stack)-1] == '{' {
				switch c {
				case ',':
					w.pos++
					if _, _, ok := w.objectKey(); !ok {
						return
					}
					continue value
				case '}':
					w.pos++
					w.stack = w.stack[:len(w.stack)-1]
				default:
					w.failChar("after object key:value pair")
					return
				}
			} else {
				switch c {
				case ',':
					w.pos++
					continue value
				case ']':
					w.pos++
					w.stack = w.stack[:len(w.stack)-1]
				default:
					w.failChar("after array element")
					return
				}
			}
		}
		return
	}
}
