// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
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

// peakGauge counts the executions running at once and the most seen.
type peakGauge struct{ cur, peak atomic.Int32 }

func (g *peakGauge) enter() int32 {
	c := g.cur.Add(1)
	for {
		p := g.peak.Load()
		if c <= p || g.peak.CompareAndSwap(p, c) {
			return c
		}
	}
}

func (g *peakGauge) leave() { g.cur.Add(-1) }

// concurrencyPipelines registers "from_input" (a map over the pipeline
// input "items") and "from_task" (a map over the list the task "make"
// makes from the pipeline input "n"), both running "each" conc elements at
// once. Every element waits until conc elements run at once (or the test's
// context ends), so a run finishes only if conc elements do run together.
func concurrencyPipelines(t *testing.T, conc int, g *peakGauge) *Registry {
	reg := NewRegistry()
	ctx := testCtx(t)
	full := make(chan struct{})
	var once sync.Once
	mustRegisterTask(t, reg, "each", func(_ context.Context, in Inputs) (any, error) {
		if g.enter() >= int32(conc) {
			once.Do(func() { close(full) })
		}
		defer g.leave()
		select {
		case <-full:
		case <-ctx.Done():
			return nil, Permanent(fmt.Errorf("only %d of %d elements ever ran at once", g.peak.Load(), conc))
		}
		return Input[int](in, "items")
	})
	mustRegisterTask(t, reg, "make", func(_ context.Context, in Inputs) (any, error) {
		n, err := Input[int](in, "n")
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		return items, err
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "from_input", Inputs: fieldsOf("items"), Tasks: []Task{
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
	}})
	mustRegisterPipeline(t, reg, Pipeline{ID: "from_task", Inputs: fieldsOf("n"), Tasks: []Task{
		{Name: "make", Inputs: []string{"n"}, Output: "items"},
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
	}})
	return reg
}

// A map runs `concurrency` elements at once, never more, whether its list
// is a pipeline input (raw JSON, as an execute request sends it) or a
// task's output, when the process has the worker slots for them.
func TestMapRunsConcurrencyElementsAtOnce(t *testing.T) {
	const conc, n = 20, 200
	items := make([]string, n)
	for i := range items {
		items[i] = strconv.Itoa(i)
	}
	list := RawJSON([]byte("[" + strings.Join(items, ",") + "]"))
	for _, tc := range []struct {
		pipeline string
		inputs   map[string]any
	}{
		{"from_input", map[string]any{"items": list}},
		{"from_task", map[string]any{"n": n}},
	} {
		t.Run(tc.pipeline, func(t *testing.T) {
			var g peakGauge
			e := newEngine(t, concurrencyPipelines(t, conc, &g), WithWorkers(conc+8))
			r, err := e.Run(testCtx(t), tc.pipeline, tc.inputs, StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != RunSucceeded {
				t.Fatalf("status %s: %s", r.Status, r.Error)
			}
			if p := g.peak.Load(); p != conc {
				t.Fatalf("peak %d elements at once, want %d", p, conc)
			}
			outs, err := Output[[]int](r, "outs")
			if err != nil || len(outs) != n || outs[n-1] != n-1 {
				t.Fatalf("outs: %d items, %v", len(outs), err)
			}
		})
	}
}

// With fewer worker slots than a map's concurrency, the slots are the
// bound (the documented cap: WithWorkers).
func TestMapConcurrencyCappedByWorkers(t *testing.T) {
	const workers = 4
	var g peakGauge
	reg := NewRegistry()
	release := make(chan struct{})
	mustRegisterTask(t, reg, "each", func(ctx context.Context, in Inputs) (any, error) {
		g.enter()
		defer g.leave()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Input[int](in, "items")
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("items"), Tasks: []Task{
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: 20},
	}})
	e := newEngine(t, reg, WithWorkers(workers))
	ctx := testCtx(t)
	run, err := e.Start(ctx, "p", map[string]any{"items": make([]int, 40)}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for g.cur.Load() < workers && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if r := waitRun(t, e, run.ID); r.Status != RunSucceeded {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if p := g.peak.Load(); p != workers {
		t.Fatalf("peak %d, want the %d worker slots", p, workers)
	}
}

// A failed element's error names its own attempts, not the most any
// element of the task needed.
func TestMapElementErrorNamesItsOwnAttempts(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		fail       func(item, attempt int) error
	}{
		{"permanent", `task "each" element 2 failed: item 2 rejected at attempt 1`, func(item, attempt int) error {
			switch {
			case item == 0 && attempt < 3:
				return fmt.Errorf("item 0 flaky at attempt %d", attempt)
			case item == 2:
				return Permanent(fmt.Errorf("item 2 rejected at attempt %d", attempt))
			}
			return nil
		}},
		{"retried", `task "each" element 1 failed after 2 attempts: item 1 failing at attempt 2`, func(item, attempt int) error {
			switch {
			case item == 0 && attempt < 3:
				return fmt.Errorf("item 0 flaky at attempt %d", attempt)
			case item == 1 && attempt >= 2:
				return Permanent(fmt.Errorf("item 1 failing at attempt %d", attempt))
			case item == 1:
				return fmt.Errorf("item 1 failing at attempt %d", attempt)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := NewRegistry()
			mustRegisterTask(t, reg, "each", func(_ context.Context, in Inputs) (any, error) {
				x, err := Input[int](in, "items")
				if err != nil {
					return nil, err
				}
				return x, tc.fail(x, in.Attempt())
			})
			mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("items"), Tasks: []Task{
				{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: 1,
					Retry: RetryPolicy{Attempts: 3, Backoff: time.Millisecond}},
			}})
			e := newEngine(t, reg)
			r, err := e.Run(testCtx(t), "p", map[string]any{"items": []int{0, 1, 2, 3}}, StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != RunFailed || r.Error != tc.want {
				t.Fatalf("status %s error %q, want %q", r.Status, r.Error, tc.want)
			}
			if a := r.Tasks["each"].Attempts; a != 3 { // element 0 needed three
				t.Fatalf("task attempts %d", a)
			}
		})
	}
}

// Each element of a map task reports its end: task_element_succeeded once
// per element with its index and attempt, task_element_failed for the one
// that fails the task, before task_failed.
func TestMapElementEvents(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "each", func(_ context.Context, in Inputs) (any, error) {
		x, err := Input[int](in, "items")
		if x < 0 {
			return nil, Permanent(errors.New("negative"))
		}
		return x, err
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("items"), Tasks: []Task{
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: 1},
	}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	events := func(items []int) []Event {
		sub, err := e.Subscribe(ctx, EventFilter{PipelineID: "p"}, 256)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := e.Start(ctx, "p", map[string]any{"items": items}, StartOptions{}); err != nil {
			t.Fatal(err)
		}
		var evs []Event
		for ev := range sub.Events() {
			evs = append(evs, ev)
			if ev.Type.RunEnded() {
				break
			}
		}
		return evs
	}
	var done []int
	for _, ev := range events([]int{5, 6, 7}) {
		if ev.Type == EventTaskElementSucceeded {
			if ev.Task != "each" || ev.Attempt != 1 {
				t.Fatalf("event %+v", ev)
			}
			done = append(done, ev.Index)
		}
	}
	if !slices.Equal(done, []int{0, 1, 2}) {
		t.Fatalf("element events for %v", done)
	}
	var types []EventType
	for _, ev := range events([]int{1, -1, 2}) {
		if ev.Type != EventTaskStarted {
			types = append(types, ev.Type)
		}
		if ev.Type == EventTaskElementFailed && (ev.Index != 1 || ev.Error != "negative") {
			t.Fatalf("event %+v", ev)
		}
	}
	want := []EventType{EventRunStarted, EventTaskElementSucceeded, EventTaskElementFailed, EventTaskFailed, EventRunFailed}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

// An engine whose worker slots are fewer than a map task's concurrency
// says so when it starts, naming the task.
func TestMapCapIsLogged(t *testing.T) {
	var logs testutil.Buffer
	reg := NewRegistry()
	mustRegisterTask(t, reg, "each", constFn(1))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("items"), Tasks: []Task{
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: 50},
	}})
	newEngine(t, reg, WithWorkers(8), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if l := logs.String(); !strings.Contains(l, "more elements at once than this process has worker slots") ||
		!strings.Contains(l, "task=each concurrency=50 workers=8") {
		t.Fatalf("log: %s", l)
	}
	var quiet testutil.Buffer
	newEngine(t, reg, WithWorkers(50), WithLogger(slog.New(slog.NewTextHandler(&quiet, nil))))
	newEngine(t, reg, WithWorkers(0), WithLogger(slog.New(slog.NewTextHandler(&quiet, nil))))
	if l := quiet.String(); l != "" {
		t.Fatalf("log: %s", l)
	}
}
