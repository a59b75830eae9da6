// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Decode validates the JSON body data against s and, when it is valid,
// decodes it into dst, a pointer to the Go type generated for s, with
// encoding/json.
//
// It returns nil, or an *Error when data does not satisfy s. It returns
// another error only for a programming mistake: an s that Compile rejects
// (wrapping ErrInvalidSchema) or a dst that encoding/json cannot decode a
// valid body into.
//
// Decode and Validate take time linear in len(data), never recurse deeper
// than MaxDepth and do not panic, whatever data holds.
func Decode(data []byte, s *Schema, dst any) error {
	if err := Validate(data, s); err != nil {
		return err
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("schema: decoding a valid %s body into %T: %w", describeKind(s), dst, err)
	}
	return nil
}

func describeKind(s *Schema) string {
	if s.Kind == Object && s.Name != "" {
		return s.Name
	}
	return s.Kind.String()
}

// Validate validates the JSON body data against s, as Decode does, without
// decoding it into a Go value. It returns nil, an *Error, or an error
// wrapping ErrInvalidSchema.
func Validate(data []byte, s *Schema) error {
	if err := s.Compile(); err != nil {
		return err
	}
	w := walkers.Get().(*walker)
	defer w.release()
	w.data = data
	w.value(s, 1, false)
	if !w.bad() {
		w.ws()
		if w.pos < len(w.data) {
			return &Error{Status: http.StatusBadRequest, Errors: []FieldError{{Message: "trailing data after the JSON value"}}}
		}
	}
	if w.bad() {
		msg := "invalid JSON at offset " + strconv.Itoa(w.synOff) + ": " + w.synMsg
		return &Error{Status: http.StatusBadRequest, Errors: []FieldError{{Message: msg}}}
	}
	if len(w.errs) == 0 {
		return nil
	}
	errs := slices.Clone(w.errs)
	slices.SortFunc(errs, func(a, b FieldError) int {
		if c := comparePaths(a.Path, b.Path); c != 0 {
			return c
		}
		return compareStrings(a.Message, b.Message)
	})
	return &Error{Status: w.status, Errors: errs}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// walker validates one body. Walkers are pooled: their buffers are reused.
type walker struct {
	data   []byte
	pos    int
	synOff int    // with synMsg: where the body is malformed
	synMsg string // non-empty once the body is found malformed

	errs   []FieldError
	status int

	path    []seg    // where the walker is, for messages
	seen    []bool   // per open object: which fields were seen
	keys    [][]byte // per open map: the keys seen, while few
	stack   []byte   // skip's open containers
	scratch []byte   // unescaped strings
	decoded []byte   // decoded base64
	pathBuf []byte
}

var walkers = sync.Pool{New: func() any { return new(walker) }}

// maxKeptBuffer is the largest buffer a pooled walker keeps.
const maxKeptBuffer = 64 << 10

func (w *walker) release() {
	*w = walker{
		errs:    w.errs[:0],
		path:    w.path[:0],
		seen:    w.seen[:0],
		keys:    w.keys[:0],
		stack:   w.stack[:0],
		scratch: w.scratch[:0],
		decoded: w.decoded[:0],
		pathBuf: w.pathBuf[:0],
	}
	if cap(w.scratch) > maxKeptBuffer {
		w.scratch = nil
	}
	if cap(w.decoded) > maxKeptBuffer {
		w.decoded = nil
	}
	if cap(w.stack) > maxKeptBuffer {
		w.stack = nil
	}
	// Do not keep bodies alive.
	clear(w.keys[:cap(w.keys)])
	clear(w.errs[:cap(w.errs)])
	walkers.Put(w)
}

// full reports whether no more problems need looking for: MaxErrors are kept
// and the status is settled at 400.
func (w *walker) full() bool {
	return len(w.errs) >= MaxErrors && w.status == http.StatusBadRequest
}

// add records a problem at the current path.
func (w *walker) add(status int, msg string) {
	if len(w.errs) >= MaxErrors {
		// Keep looking for a 400 past the cap, so that the status is right;
		// the first one found takes the place of a 422.
		if status == http.StatusBadRequest && w.status != status {
			w.errs[len(w.errs)-1] = FieldError{Path: w.pathString(), Message: msg}
			w.status = status
		}
		return
	}
	w.pathBuf = appendPath(w.pathBuf[:0], w.path)
	for _, e := range w.errs {
		if e.Message == msg && e.Path == string(w.pathBuf) {
			return
		}
	}
	w.errs = append(w.errs, FieldError{Path: string(w.pathBuf), Message: msg})
	if status == http.StatusBadRequest || w.status == 0 {
		w.status = status
	}
}

func (w *walker) pathString() string {
	w.pathBuf = appendPath(w.pathBuf[:0], w.path)
	return string(w.pathBuf)
}

func (w *walker) push(s seg) { w.path = append(w.path, s) }
func (w *walker) pop()       { w.path = w.path[:len(w.path)-1] }

// addAt records a problem at the current path extended by s.
func (w *walker) addAt(s seg, status int, msg string) {
	w.push(s)
	w.add(status, msg)
	w.pop()
}

// typeError records that the value at w.pos has the wrong JSON type, and
// skips it.
func (w *walker) typeError(s *Schema) {
	w.add(http.StatusBadRequest, s.prep.typeMsg)
	w.skip()
}

// tooDeep records that the container at w.pos nests too deeply, and skips it.
func (w *walker) tooDeep() {
	w.add(http.StatusBadRequest, "nested deeper than "+strconv.Itoa(MaxDepth)+" levels")
	w.skip()
}

// value validates the value at w.pos against s. depth is the nesting level
// the value has if it is an array or object.
func (w *walker) value(s *Schema, depth int, optional bool) {
	if !w.more() {
		return
	}
	if w.full() {
		w.skip()
		return
	}
	c := w.data[w.pos]
	if c == 'n' && (optional || s.Kind == Any) {
		w.scanLiteral()
		return
	}
	switch s.Kind {
	case Object:
		if c != '{' {
			w.typeError(s)
			return
		}
		w.object(s, depth)
	case Map:
		if c != '{' {
			w.typeError(s)
			return
		}
		w.mapValue(s, depth)
	case List:
		if c != '[' {
			w.typeError(s)
			return
		}
		w.list(s, depth)
	case Any:
		w.any(depth)
	case String:
		if c != '"' {
			w.typeError(s)
			return
		}
		w.str(s)
	case Time:
		if c != '"' {
			w.typeError(s)
			return
		}
		start := w.pos
		w.scanString()
		var t time.Time
		if !w.bad() && t.UnmarshalJSON(w.data[start:w.pos]) != nil {
			w.add(http.StatusBadRequest, s.prep.typeMsg)
		}
	case Bytes:
		if c != '"' {
			w.typeError(s)
			return
		}
		w.bytes(s)
	case Int, Int64:
		if c != '-' && !isDigit(c) {
			w.typeError(s)
			return
		}
		w.integer(s)
	case Float64:
		if c != '-' && !isDigit(c) {
			w.typeError(s)
			return
		}
		w.float(s)
	case Bool:
		if c != 't' && c != 'f' {
			w.typeError(s)
			return
		}
		w.scanLiteral()
	}
}

// object validates an object of fields s.Fields.
func (w *walker) object(s *Schema, depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	base := len(w.seen)
	for range s.Fields {
		w.seen = append(w.seen, false)
	}
	defer func() { w.seen = w.seen[:base] }()
	complete := w.eachMember(func(raw []byte, escaped bool) {
		key := raw
		if escaped {
			w.scratch = unescape(w.scratch[:0], raw)
			key = w.scratch
		}
		i := s.lookup(key)
		switch {
		case i < 0:
			w.addAt(seg{key: key}, http.StatusBadRequest, "unknown field")
			w.skip()
		case w.seen[base+i]:
			w.addAt(seg{name: s.Fields[i].Name}, http.StatusBadRequest, "duplicate key")
			w.skip()
		default:
			w.seen[base+i] = true
			f := &s.Fields[i]
			w.push(seg{name: f.Name})
			w.value(f.Schema, depth+1, f.Optional)
			w.pop()
		}
	})
	if !complete {
		return
	}
	if w.full() {
		return
	}
	for i := range s.Fields {
		if f := &s.Fields[i]; !w.seen[base+i] && !f.Optional {
			w.addAt(seg{name: f.Name}, http.StatusBadRequest, "required")
		}
	}
}

// lookup returns the index of the field named key, or -1.
func (s *Schema) lookup(key []byte) int {
	if s.prep.index != nil {
		if i, ok := s.prep.index[string(key)]; ok {
			return i
		}
		return -1
	}
	for i := range s.Fields {
		if s.Fields[i].Name == string(key) {
			return i
		}
	}
	return -1
}

// keySet detects duplicate keys in one map or any-typed object: a linear
// scan while the object has few keys, a Go map past that.
type keySet struct {
	base int
	m    map[string]struct{}
}

const keySetLinear = 16

// add adds key (which must stay unchanged until the object ends) and reports
// whether it was already there.
func (w *walker) addKey(ks *keySet, key []byte) (dup bool) {
	if ks.m != nil {
		if _, ok := ks.m[string(key)]; ok {
			return true
		}
		ks.m[string(key)] = struct{}{}
		return false
	}
	for _, k := range w.keys[ks.base:] {
		if bytes.Equal(k, key) {
			return true
		}
	}
	w.keys = append(w.keys, key)
	if len(w.keys)-ks.base > keySetLinear {
		ks.m = make(map[string]struct{}, 2*keySetLinear)
		for _, k := range w.keys[ks.base:] {
			ks.m[string(k)] = struct{}{}
		}
		w.keys = w.keys[:ks.base]
	}
	return false
}

// members walks the members of the object at w.pos, calling member for each
// key that is not a duplicate with the path extended by the key, and returns
// how many distinct keys it has.
func (w *walker) members(member func()) (n int) {
	ks := keySet{base: len(w.keys)}
	defer func() { w.keys = w.keys[:ks.base] }()
	w.eachMember(func(raw []byte, escaped bool) {
		key := raw
		if escaped {
			key = unescape(nil, raw) // stays unchanged while the object is open
		}
		w.push(seg{key: key})
		if w.addKey(&ks, key) {
			w.add(http.StatusBadRequest, "duplicate key")
			w.skip()
		} else {
			n++
			member()
		}
		w.pop()
	})
	return n
}

// eachMember walks the object at w.pos: it consumes the braces, the keys
// and the separators, and calls member with each key (raw, and whether it
// holds escapes) with w.pos at the key's value, which member consumes. It
// reports whether the whole object was read (false after a syntax error or
// once the walk has stopped).
func (w *walker) eachMember(member func(raw []byte, escaped bool)) bool {
	w.pos++ // '{'
	if !w.more() {
		return false
	}
	if w.data[w.pos] == '}' {
		w.pos++
		return true
	}
	for {
		raw, escaped, ok := w.objectKey()
		if !ok {
			return false
		}
		member(raw, escaped)
		if w.bad() || !w.more() {
			return false
		}
		switch w.data[w.pos] {
		case '}':
			w.pos++
			return true
		case ',':
			w.pos++
		default:
			w.failChar("after object key:value pair")
			return false
		}
	}
}

// elements walks the elements of the array at w.pos, calling element for
// each with the path extended by its index, and returns how many there are.
func (w *walker) elements(element func()) (n int) {
	w.pos++ // '['
	if !w.more() {
		return
	}
	if w.data[w.pos] == ']' {
		w.pos++
		return
	}
	for {
		w.push(seg{idx: n, isIdx: true})
		element()
		w.pop()
		n++
		if w.bad() || !w.more() {
			return
		}
		c := w.data[w.pos]
		if c == ']' {
			w.pos++
			return
		}
		if c != ',' {
			w.failChar("after array element")
			return
		}
		w.pos++
	}
}

func (w *walker) mapValue(s *Schema, depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	n := w.members(func() { w.value(s.Elem, depth+1, false) })
	if !w.bad() {
		w.checkLength(s, n)
	}
}

func (w *walker) list(s *Schema, depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	n := w.elements(func() { w.value(s.Elem, depth+1, false) })
	if !w.bad() {
		w.checkLength(s, n)
	}
}

// any walks a value of any type, for duplicate keys and depth only.
func (w *walker) any(depth int) {
	if !w.more() {
		return
	}
	if w.full() {
		w.skip()
		return
	}
	switch c := w.data[w.pos]; c {
	case '{', '[':
		if depth > MaxDepth {
			w.tooDeep()
			return
		}
		if c == '{' {
			w.members(func() { w.any(depth + 1) })
		} else {
			w.elements(func() { w.any(depth + 1) })
		}
	default:
		w.skip() // a scalar
	}
}

func (w *walker) checkLength(s *Schema, n int) {
	if s.MinLength != nil && n < *s.MinLength {
		w.add(http.StatusUnprocessableEntity, s.prep.minLenMsg)
	}
	if s.MaxLength != nil && n > *s.MaxLength {
		w.add(http.StatusUnprocessableEntity, s.prep.maxLenMsg)
	}
}

func (w *walker) str(s *Schema) {
	raw, escaped := w.scanString()
	if w.bad() {
		return
	}
	if s.Enum == nil && s.MinLength == nil && s.MaxLength == nil && s.prep.re == nil {
		return
	}
	v := raw
	if escaped {
		w.scratch = unescape(w.scratch[:0], raw)
		v = w.scratch
	}
	if s.Enum != nil && !s.inEnum(v) {
		w.add(http.StatusUnprocessableEntity, s.prep.enumMsg)
	}
	if s.MinLength != nil || s.MaxLength != nil {
		w.checkLength(s, utf8.RuneCount(v))
	}
	if s.prep.re != nil && !s.prep.re.Match(v) {
		w.add(http.StatusUnprocessableEntity, s.prep.patMsg)
	}
}

func (s *Schema) inEnum(v []byte) bool {
	if s.prep.enumSet != nil {
		_, ok := s.prep.enumSet[string(v)]
		return ok
	}
	for _, e := range s.Enum {
		if e == string(v) {
			return true
		}
	}
	return false
}

func (w *walker) bytes(s *Schema) {
	raw, escaped := w.scanString()
	if w.bad() {
		return
	}
	v := raw
	if escaped {
		w.scratch = unescape(w.scratch[:0], raw)
		v = w.scratch
	}
	// As encoding/json decodes []byte.
	w.decoded = slices.Grow(w.decoded[:0], base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Decode(w.decoded[:cap(w.decoded)], v)
	if err != nil {
		w.add(http.StatusBadRequest, s.prep.typeMsg)
		return
	}
	w.checkLength(s, n)
}

func (w *walker) integer(s *Schema) {
	n := w.scanNumber()
	if w.bad() {
		return
	}
	if !n.integral {
		w.add(http.StatusBadRequest, s.prep.typeMsg)
		return
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if s.Kind == Int {
		lo, hi = math.MinInt, math.MaxInt
	}
	v, ok := parseInt(n.lit, lo, hi)
	if !ok {
		w.add(http.StatusBadRequest, "must be an integer between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10))
		return
	}
	if s.Min != nil && !intAtLeast(v, *s.Min) {
		w.add(http.StatusUnprocessableEntity, s.prep.minMsg)
	}
	if s.Max != nil && !intAtMost(v, *s.Max) {
		w.add(http.StatusUnprocessableEntity, s.prep.maxMsg)
	}
}

func (w *walker) float(s *Schema) {
	n := w.scanNumber()
	if w.bad() {
		return
	}
	f, err := strconv.ParseFloat(string(n.lit), 64)
	if err != nil { // out of range: encoding/json refuses it too
		w.add(http.StatusBadRequest, "must be a number within the float64 range")
		return
	}
	if s.Min != nil && compareFloat(n.lit, f, *s.Min, s.prep.minDec) < 0 {
		w.add(http.StatusUnprocessableEntity, s.prep.minMsg)
	}
	if s.Max != nil && compareFloat(n.lit, f, *s.Max, s.prep.maxDec) > 0 {
		w.add(http.StatusUnprocessableEntity, s.prep.maxMsg)
	}
}
