// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestValueDecode(t *testing.T) {
	type pt struct {
		X int `json:"x"`
	}
	// Go value: fast path, same value.
	if got, err := Decode[pt](ValueOf(pt{3})); err != nil || got.X != 3 {
		t.Fatal(got, err)
	}
	// Raw JSON.
	if got, err := Decode[pt](RawJSON([]byte(`{"x":4}`))); err != nil || got.X != 4 {
		t.Fatal(got, err)
	}
	// Conversion through JSON (int -> float64) and from a map-task list.
	if got, err := Decode[float64](ValueOf(7)); err != nil || got != 7 {
		t.Fatal(got, err)
	}
	list := ValueOf([]Value{ValueOf(pt{1}), RawJSON([]byte(`{"x":2}`)), {}})
	got, err := Decode[[]pt](list)
	if err != nil || len(got) != 3 || got[0].X != 1 || got[1].X != 2 || got[2].X != 0 {
		t.Fatal(got, err)
	}
	// Errors wrap ErrDecode.
	if _, err := Decode[int](RawJSON([]byte(`"text"`))); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := Decode[int](ValueOf(make(chan int))); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	// Null decodes to the zero value.
	if got, err := Decode[*pt](Value{}); err != nil || got != nil {
		t.Fatal(got, err)
	}
	if !(Value{}).IsNull() || !RawJSON([]byte(" null")).IsNull() || ValueOf(0).IsNull() {
		t.Fatal("IsNull")
	}
}

func TestValueJSON(t *testing.T) {
	in := map[string]Value{"a": ValueOf([]int{1, 2}), "b": RawJSON([]byte(`{"k":true}`)), "c": {}}
	b, err := json.Marshal(in)
	if err != nil || string(b) != `{"a":[1,2],"b":{"k":true},"c":null}` {
		t.Fatalf("%s %v", b, err)
	}
	var back map[string]Value
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if xs, err := Decode[[]int](back["a"]); err != nil || len(xs) != 2 {
		t.Fatal(xs, err)
	}
	x, err := back["b"].Interface()
	if m, ok := x.(map[string]any); err != nil || !ok || m["k"] != true {
		t.Fatal(x, err)
	}
	if n, err := back["a"].Len(); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if e, err := back["a"].Index(1); err != nil {
		t.Fatal(err)
	} else if v, _ := Decode[int](e); v != 2 {
		t.Fatal(v)
	}
	if _, err := ValueOf(3).Len(); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := ValueOf([]int{1}).Index(5); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
}
