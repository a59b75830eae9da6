// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
)

// Value is a dataflow value: a pipeline input or a task output. It holds
// either a Go value (produced in this process, never serialised) or raw JSON
// (received from the wire or a durable store), and is decoded lazily with
// Decode. A store may also hand out a deferred Value, one it keeps out of
// the run record and fetches on demand (see Deferred and Load). The zero
// Value is JSON null. Values are immutable once created; the runtime shares
// them between readers without copying.
type Value struct {
	v   any
	raw json.RawMessage
	// x is shared by every copy of the Value: the elements of a raw JSON
	// list (split once, however many elements are read), or what a
	// deferred value or an element list refers to. nil for other values.
	x *extra
}

// extra is the shared part of a Value; see Value.x.
type extra struct {
	// A raw JSON list's elements, split on first use.
	once  sync.Once
	items []json.RawMessage
	err   error

	// A deferred value (kind deferred) or an element list (kind elements).
	kind int
	ref  any
	size int64
	n    int // elements of a list, or -1
	task string
	load func(context.Context) (Value, error)
}

const (
	kindList = iota
	kindDeferred
	kindElements
)

// ValueOf returns a Value holding x. A Value is returned as is, and a
// json.RawMessage becomes a raw JSON Value.
func ValueOf(x any) Value {
	switch t := x.(type) {
	case Value:
		return t
	case json.RawMessage:
		return RawJSON(t)
	}
	return Value{v: x}
}

// RawJSON returns a Value holding the JSON document b. It keeps b without
// copying; the caller must not modify b afterwards. An empty b is null.
func RawJSON(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	v := Value{raw: b}
	if isList(b) {
		v.x = &extra{}
	}
	return v
}

// isList reports whether the JSON document b is an array.
func isList(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '['
	}
	return false
}

// Deferred returns a Value that a Store keeps out of the run record and
// fetches with load when it is read: ref is the store's own reference to
// it (returned by Ref), size the length of its JSON in bytes, and n its
// number of elements when it is a list, -1 otherwise, so that Len needs no
// fetch. Load fetches it with a context; the other methods of a deferred
// Value fetch it with a background context, and the store's load bounds
// how long that takes.
func Deferred(ref any, size int64, n int, load func(context.Context) (Value, error)) Value {
	return Value{x: &extra{kind: kindDeferred, ref: ref, size: size, n: n, load: load}}
}

// Ref returns the reference of a deferred Value, and whether v is one.
func (v Value) Ref() (ref any, ok bool) {
	if v.x != nil && v.x.kind == kindDeferred {
		return v.x.ref, true
	}
	return nil, false
}

// Load returns the value v stands for: v itself, or for a deferred Value
// the value its store fetches.
func Load(ctx context.Context, v Value) (Value, error) {
	if v.x == nil || v.x.kind != kindDeferred {
		return v, nil
	}
	got, err := v.x.load(ctx)
	if err != nil {
		return Value{}, err
	}
	return got, nil
}

// ElementList returns the output of a map task whose element outputs a
// Store keeps outside the run record (a TaskRecord with nil Results): the
// list of the n element outputs of the run's task named task, in element
// order. Only such a store produces and reads it; its elements are read
// through the store (it becomes a deferred Value when read back), and
// decoding it as is fails.
func ElementList(task string, n int) Value {
	return Value{x: &extra{kind: kindElements, task: task, n: n}}
}

// ElementList reports whether v is an element list made by the function
// ElementList, and returns its task and length.
func (v Value) ElementList() (task string, n int, ok bool) {
	if v.x != nil && v.x.kind == kindElements {
		return v.x.task, v.x.n, true
	}
	return "", 0, false
}

// resolve returns v, fetched if it is deferred; an element list cannot be
// read without its store.
func (v Value) resolve() (Value, error) {
	if v.x == nil {
		return v, nil
	}
	switch v.x.kind {
	case kindDeferred:
		got, err := v.x.load(context.Background())
		if err != nil {
			return Value{}, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		if got.x != nil && got.x.kind != kindList {
			return Value{}, fmt.Errorf("%w: the store returned a reference for a value", ErrDecode)
		}
		return got, nil
	case kindElements:
		return Value{}, fmt.Errorf("%w: the element outputs of task %q are kept by the store and were not read from it", ErrDecode, v.x.task)
	}
	return v, nil
}

// indirect reports whether v must be fetched or read through its store.
func (v Value) indirect() bool { return v.x != nil && v.x.kind != kindList }

// IsNull reports whether v is JSON null (the zero Value, a nil Go value or
// the raw document "null"). A deferred Value or an element list is not.
func (v Value) IsNull() bool {
	if v.indirect() {
		return false
	}
	if v.raw != nil {
		return bytes.Equal(bytes.TrimSpace(v.raw), []byte("null"))
	}
	if v.v == nil {
		return true
	}
	rv := reflect.ValueOf(v.v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// Interface returns the Go value held by v, or for raw JSON the result of
// decoding it into an any (maps, slices, float64, string, bool, nil).
func (v Value) Interface() (any, error) {
	if v.indirect() {
		r, err := v.resolve()
		if err != nil {
			return nil, err
		}
		return r.Interface()
	}
	if v.raw == nil {
		return v.v, nil
	}
	var x any
	if err := json.Unmarshal(v.raw, &x); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return x, nil
}

// MarshalJSON encodes the held Go value, or returns the raw JSON as is.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.indirect() {
		r, err := v.resolve()
		if err != nil {
			return nil, err
		}
		return r.MarshalJSON()
	}
	if v.raw != nil {
		return v.raw, nil
	}
	return json.Marshal(v.v)
}

// UnmarshalJSON keeps a copy of b as raw JSON, to be decoded lazily.
func (v *Value) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("%w: invalid JSON", ErrDecode)
	}
	*v = RawJSON(append(json.RawMessage(nil), b...))
	return nil
}

// Decode returns v as a T. A Go value of type T is returned without copying
// or serialisation (the fast path); raw JSON is unmarshalled into a T; other
// Go values are converted element by element (for lists produced by map
// tasks) or through JSON; a deferred Value is fetched first. Null decodes
// to T's zero value. Failures wrap ErrDecode.
func Decode[T any](v Value) (T, error) {
	if v.raw == nil && v.x == nil {
		if x, ok := v.v.(T); ok {
			return x, nil
		}
		if v.v == nil {
			var zero T
			return zero, nil
		}
	}
	return decodeSlow[T](v)
}

// decodeSlow is Decode's path through JSON or reflection, kept apart so that
// the fast path allocates nothing.
func decodeSlow[T any](v Value) (T, error) {
	var t T
	if v.indirect() {
		r, err := v.resolve()
		if err != nil {
			return t, err
		}
		return Decode[T](r)
	}
	if v.raw != nil {
		if err := json.Unmarshal(v.raw, &t); err != nil {
			return t, fmt.Errorf("%w into %T: %w", ErrDecode, t, err)
		}
		return t, nil
	}
	if err := convert(v.v, reflect.ValueOf(&t).Elem()); err != nil {
		return t, fmt.Errorf("%w from %T into %T: %w", ErrDecode, v.v, t, err)
	}
	return t, nil
}

// convert stores src into dst: directly when assignable, per element for
// []Value lists, else through a JSON round trip.
func convert(src any, dst reflect.Value) error {
	sv := reflect.ValueOf(src)
	if sv.Type().AssignableTo(dst.Type()) {
		dst.Set(sv)
		return nil
	}
	if items, ok := src.([]Value); ok && dst.Kind() == reflect.Slice {
		out := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, it := range items {
			if err := convertValue(it, out.Index(i)); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		dst.Set(out)
		return nil
	}
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst.Addr().Interface())
}

func convertValue(v Value, dst reflect.Value) error {
	if v.indirect() {
		r, err := v.resolve()
		if err != nil {
			return err
		}
		v = r
	}
	switch {
	case v.raw != nil:
		return json.Unmarshal(v.raw, dst.Addr().Interface())
	case v.v == nil:
		return nil
	}
	return convert(v.v, dst)
}

// elements returns the elements of a raw JSON list, split on the first
// call and shared by every copy of v afterwards.
func (v Value) elements() ([]json.RawMessage, error) {
	if v.x == nil { // raw JSON that is not a list
		var items []json.RawMessage
		err := json.Unmarshal(v.raw, &items)
		return items, err
	}
	v.x.once.Do(func() { v.x.err = json.Unmarshal(v.raw, &v.x.items) })
	return v.x.items, v.x.err
}

// Len returns the number of elements of a list Value, or an error wrapping
// ErrDecode when v is not a list. A raw JSON list is split into its
// elements once, on the first call of Len or Index on v or a copy of it,
// so that reading all the elements of a list costs its length, not its
// length squared. A deferred Value or an element list answers without
// being fetched.
func (v Value) Len() (int, error) {
	if v.indirect() {
		if v.x.n < 0 {
			return 0, fmt.Errorf("%w: not a list", ErrDecode)
		}
		return v.x.n, nil
	}
	if v.raw != nil {
		items, err := v.elements()
		if err != nil {
			return 0, fmt.Errorf("%w: not a JSON list: %w", ErrDecode, err)
		}
		return len(items), nil
	}
	if items, ok := v.v.([]Value); ok {
		return len(items), nil
	}
	if v.v == nil {
		return 0, fmt.Errorf("%w: null is not a list", ErrDecode)
	}
	rv := reflect.ValueOf(v.v)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return 0, fmt.Errorf("%w: %T is not a list", ErrDecode, v.v)
	}
	return rv.Len(), nil
}

// Index returns element i of a list Value, or an error wrapping ErrDecode
// when v is not a list or i is out of range. See Len for the cost; a
// deferred Value is fetched (Load it first to choose the context).
func (v Value) Index(i int) (Value, error) {
	if v.indirect() {
		r, err := v.resolve()
		if err != nil {
			return Value{}, err
		}
		return r.Index(i)
	}
	if v.raw != nil {
		items, err := v.elements()
		if err != nil {
			return Value{}, fmt.Errorf("%w: not a JSON list: %w", ErrDecode, err)
		}
		if i < 0 || i >= len(items) {
			return Value{}, fmt.Errorf("%w: index %d out of range [0,%d)", ErrDecode, i, len(items))
		}
		return RawJSON(items[i]), nil
	}
	n, err := v.Len()
	if err != nil {
		return Value{}, err
	}
	if i < 0 || i >= n {
		return Value{}, fmt.Errorf("%w: index %d out of range [0,%d)", ErrDecode, i, n)
	}
	if items, ok := v.v.([]Value); ok {
		return items[i], nil
	}
	return ValueOf(reflect.ValueOf(v.v).Index(i).Interface()), nil
}

// RawList returns a raw JSON list whose elements are already known (a
// store assembling a list from elements it kept): list is its JSON and
// items its elements, subslices of list, so that reading them needs no
// split. The caller must not modify either afterwards.
func RawList(list []byte, items []json.RawMessage) Value {
	v := Value{raw: list, x: &extra{items: items}}
	v.x.once.Do(func() {})
	return v
}
