// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
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

// A raw JSON list is split once: every copy of the Value shares the split,
// so reading each of its elements costs its length once, not once per
// element.
func TestRawListSplitOnce(t *testing.T) {
	v := RawJSON([]byte(` [1, [2, 3], "x", {"a": [4]}]`))
	cp := v
	if n, err := cp.Len(); err != nil || n != 4 {
		t.Fatal(n, err)
	}
	if v.x == nil || v.x.items == nil {
		t.Fatal("the copy's Len did not split the shared list")
	}
	first := &v.x.items[0]
	want := []string{`1`, `[2, 3]`, `"x"`, `{"a": [4]}`}
	for i, w := range want {
		e, err := v.Index(i)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := e.MarshalJSON(); string(b) != w {
			t.Fatalf("element %d = %s, want %s", i, b, w)
		}
	}
	if &v.x.items[0] != first {
		t.Fatal("Index split the list again")
	}
	if e, _ := v.Index(1); e.x == nil {
		t.Fatal("an element that is a list gets no split of its own")
	}
	if _, err := v.Index(4); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := RawJSON([]byte(`{"a":1}`)).Len(); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := RawJSON([]byte(`[1,`)).Index(0); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	l := RawList([]byte(`[7,8]`), []json.RawMessage{[]byte(`7`), []byte(`8`)})
	if e, err := l.Index(1); err != nil {
		t.Fatal(err)
	} else if x, _ := Decode[int](e); x != 8 {
		t.Fatal(x)
	}
	if xs, err := Decode[[]int](l); err != nil || len(xs) != 2 {
		t.Fatal(xs, err)
	}
}

// A deferred Value answers Len without a fetch, is fetched by Load with
// the caller's context, and by its other methods with a background one.
func TestDeferredValue(t *testing.T) {
	var loads int
	load := func(ctx context.Context) (Value, error) {
		loads++
		if ctx.Err() != nil {
			return Value{}, ctx.Err()
		}
		return RawJSON([]byte(`[10,20,30]`)), nil
	}
	v := Deferred("ref-1", 10, 3, load)
	if ref, ok := v.Ref(); !ok || ref != "ref-1" {
		t.Fatal(ref, ok)
	}
	if n, err := v.Len(); err != nil || n != 3 || loads != 0 {
		t.Fatal(n, err, loads)
	}
	if v.IsNull() {
		t.Fatal("deferred is null")
	}
	got, err := Load(testCtx(t), v)
	if err != nil || loads != 1 {
		t.Fatal(err, loads)
	}
	if _, ok := got.Ref(); ok {
		t.Fatal("loaded value is still deferred")
	}
	if xs, err := Decode[[]int](v); err != nil || len(xs) != 3 || xs[2] != 30 {
		t.Fatal(xs, err)
	}
	if b, err := v.MarshalJSON(); err != nil || string(b) != `[10,20,30]` {
		t.Fatalf("%s %v", b, err)
	}
	if e, err := v.Index(1); err != nil {
		t.Fatal(err)
	} else if x, _ := Decode[int](e); x != 20 {
		t.Fatal(x)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := Load(ctx, v); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	scalar := Deferred(nil, 1, -1, func(context.Context) (Value, error) { return Value{}, errors.New("unreachable store") })
	if _, err := scalar.Len(); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := Decode[int](scalar); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "unreachable store") {
		t.Fatal(err)
	}
	// Plain values load as themselves.
	if got, err := Load(testCtx(t), ValueOf(4)); err != nil || got.v != 4 {
		t.Fatal(got, err)
	}
}

// An element list says what it stands for, and cannot be read without its
// store.
func TestElementList(t *testing.T) {
	v := ElementList("square", 5)
	if task, n, ok := v.ElementList(); !ok || task != "square" || n != 5 {
		t.Fatal(task, n, ok)
	}
	if n, err := v.Len(); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	if _, err := v.MarshalJSON(); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, err := Decode[[]int](v); !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if _, _, ok := ValueOf([]int{1}).ElementList(); ok {
		t.Fatal("a Go list is an element list")
	}
}
