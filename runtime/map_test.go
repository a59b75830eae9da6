// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// A map task keeps the input order, never runs more than MapConcurrency
// elements at once, and its list feeds a reduce task.
func TestMapKeepsOrderAndBound(t *testing.T) {
	reg := NewRegistry()
	var cur, peak atomic.Int32
	const n, bound = 40, 3
	release := make(chan struct{})
	mustRegisterTask(t, reg, "square", func(_ context.Context, in Inputs) (any, error) {
		c := cur.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		<-release
		cur.Add(-1)
		x, err := Input[int](in, "nums")
		if in.Index() < 0 {
			return nil, errors.New("no element index")
		}
		return x * x, err
	})
	mustRegisterTask(t, reg, "sum", func(_ context.Context, in Inputs) (any, error) {
		xs, err := Input[[]int](in, "squares")
		total := 0
		for _, x := range xs {
			total += x
		}
		return total, err
	})
	mustRegisterPipeline(t, reg, Pipeline{
		ID:     "mr",
		Inputs: fieldsOf("nums"),
		Tasks: []Task{
			{Name: "square", Inputs: []string{"nums"}, Output: "squares", Map: "nums", MapConcurrency: bound},
			{Name: "sum", Inputs: []string{"squares"}, Output: "total"},
		},
	})
	e := newEngine(t, reg, WithWorkers(8))
	nums := make([]int, n)
	want := make([]int, n)
	total := 0
	for i := range nums {
		nums[i] = n - i // descending: order must follow the input, not completion
		want[i] = nums[i] * nums[i]
		total += want[i]
	}
	ctx := testCtx(t)
	run, err := e.Start(ctx, "mr", map[string]any{"nums": nums}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		release <- struct{}{}
	}
	r := waitRun(t, e, run.ID)
	if r.Status != RunSucceeded {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	got, err := Output[[]int](r, "squares")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("squares = %v, %v", got, err)
	}
	if s, _ := Output[int](r, "total"); s != total {
		t.Fatalf("total = %d, want %d", s, total)
	}
	if p := peak.Load(); p > bound || p < 1 {
		t.Fatalf("peak concurrency %d, bound %d", p, bound)
	}
}

// An element that still fails after its retries fails the task and the run.
func TestMapElementFailureFailsTask(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	mustRegisterTask(t, reg, "check", func(_ context.Context, in Inputs) (any, error) {
		calls.Add(1)
		s, err := Input[string](in, "words")
		if err != nil {
			return nil, err
		}
		if s == "bad" {
			return nil, fmt.Errorf("word %q rejected", s)
		}
		return strings.ToUpper(s), nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("words"), Tasks: []Task{
		{Name: "check", Inputs: []string{"words"}, Output: "upper", Map: "words", MapConcurrency: 1, Retry: RetryPolicy{Attempts: 2}},
	}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", map[string]any{"words": []string{"a", "bad", "c", "d"}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || r.Tasks["check"].Status != TaskFailed {
		t.Fatalf("status %s task %+v", r.Status, r.Tasks["check"])
	}
	if r.Error != `task "check" element 1 failed after 2 attempts: word "bad" rejected` {
		t.Fatalf("error %q", r.Error)
	}
	if r.Outputs != nil {
		t.Fatal("failed run has outputs")
	}
	if c := calls.Load(); c != 3 { // a, bad, bad again; c and d never start with concurrency 1
		t.Fatalf("calls = %d", c)
	}
}

func TestMapEmptyListGivesEmptyList(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "each", func(context.Context, Inputs) (any, error) { return nil, errors.New("must not run") })
	mustRegisterTask(t, reg, "count", func(_ context.Context, in Inputs) (any, error) {
		xs, err := Input[[]string](in, "outs")
		return len(xs), err
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("xs"), Tasks: []Task{
		{Name: "each", Inputs: []string{"xs"}, Output: "outs", Map: "xs"},
		{Name: "count", Inputs: []string{"outs"}, Output: "n"},
	}})
	e := newEngine(t, reg)
	for _, input := range []any{[]string{}, RawJSON([]byte(`[]`))} {
		r, err := e.Run(testCtx(t), "p", map[string]any{"xs": input}, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := Output[[]string](r, "outs")
		if r.Status != RunSucceeded || err != nil || outs == nil || len(outs) != 0 {
			t.Fatalf("status %s outs %#v %v (%s)", r.Status, outs, err, r.Error)
		}
		if b, _ := r.Outputs["outs"].MarshalJSON(); string(b) != "[]" {
			t.Fatalf("outs JSON %s", b)
		}
	}
}

func TestMapOverNonListFails(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "each", constFn(1))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("xs"), Tasks: []Task{{Name: "each", Inputs: []string{"xs"}, Output: "o", Map: "xs"}}})
	e := newEngine(t, reg)
	r, err := e.Run(testCtx(t), "p", map[string]any{"xs": 42}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunFailed || !strings.Contains(r.Error, `map input "xs"`) {
		t.Fatalf("status %s error %q", r.Status, r.Error)
	}
}
