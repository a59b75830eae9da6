// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Value is a dataflow value: a pipeline input or a task output. It holds
// either a Go value (produced in this process, never serialised) or raw JSON
// (received from the wire or a durable store), and is decoded lazily with
// Decode. The zero Value is JSON null. Values are immutable once created;
// the runtime shares them between readers without copying.
type Value struct {
	v   any
	raw json.RawMessage
}

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
	return Value{raw: b}
}

// IsNull reports whether v is JSON null (the zero Value, a nil Go value or
// the raw document "null").
func (v Value) IsNull() bool {
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
	v.v = nil
	v.raw = append(json.RawMessage(nil), b...)
	return nil
}

// Decode returns v as a T. A Go value of type T is returned without copying
// or serialisation (the fast path); raw JSON is unmarshalled into a T; other
// Go values are converted element by element (for lists produced by map
// tasks) or through JSON. Null decodes to T's zero value. Failures wrap
// ErrDecode.
func Decode[T any](v Value) (T, error) {
	if v.raw == nil {
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
	switch {
	case v.raw != nil:
		return json.Unmarshal(v.raw, dst.Addr().Interface())
	case v.v == nil:
		return nil
	}
	return convert(v.v, dst)
}

// Len returns the number of elements of a list Value, or an error wrapping
// ErrDecode when v is not a list.
func (v Value) Len() (int, error) {
	if v.raw != nil {
		var items []json.RawMessage
		if err := json.Unmarshal(v.raw, &items); err != nil {
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
// when v is not a list or i is out of range.
func (v Value) Index(i int) (Value, error) {
	if v.raw != nil {
		var items []json.RawMessage
		if err := json.Unmarshal(v.raw, &items); err != nil {
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
