// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"slices"
	"testing"
	"time"
)

// registerKept registers pipelines "by_age" (finished runs kept an hour)
// and "by_count" (the newest two kept), each one task returning its input.
func registerKept(t *testing.T, reg *Registry) {
	t.Helper()
	mustRegisterTask(t, reg, "echo", func(_ context.Context, in Inputs) (any, error) { return Input[int](in, "x") })
	for id, r := range map[string]Retention{"by_age": {MaxAge: time.Hour}, "by_count": {MaxRuns: 2}} {
		mustRegisterPipeline(t, reg, Pipeline{ID: id, Inputs: fieldsOf("x"), Retention: r,
			Tasks: []Task{{Name: "echo", Inputs: []string{"x"}, Output: "y"}}})
	}
}

// runIDs lists the runs of pipeline, newest first.
func runIDs(t *testing.T, e *Engine, pipeline string) []string {
	t.Helper()
	page, err := e.List(testCtx(t), ListOptions{PipelineID: pipeline, Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Runs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestRetentionByAgeAndCountInMemory(t *testing.T) {
	clock := newFakeClock()
	reg := NewRegistry()
	registerKept(t, reg)
	e := newEngine(t, reg, WithClock(clock.Now), WithRetentionInterval(0))
	testRetention(t, e, clock)
}

// testRetention runs the retention checks on e, whose clock is clock.
func testRetention(t *testing.T, e *Engine, clock *fakeClock) {
	ctx := testCtx(t)
	run := func(pipeline string, x int) string {
		t.Helper()
		r, err := e.Run(ctx, pipeline, map[string]any{"x": x}, StartOptions{})
		if err != nil || r.Status != RunSucceeded {
			t.Fatalf("run: %v %+v", err, r)
		}
		return r.ID
	}
	old := run("by_age", 1)
	clock.Advance(30 * time.Minute)
	young := run("by_age", 2)
	var counted []string
	for i := range 4 {
		counted = append(counted, run("by_count", i))
		clock.Advance(time.Second)
	}
	if n, err := e.EnforceRetention(ctx); err != nil || n != 2 {
		t.Fatalf("first sweep deleted %d, %v; want the two oldest by_count runs", n, err)
	}
	if got, want := runIDs(t, e, "by_count"), []string{counted[3], counted[2]}; !slices.Equal(got, want) {
		t.Fatalf("by_count keeps %v, want the newest two %v", got, want)
	}
	if got := runIDs(t, e, "by_age"); len(got) != 2 {
		t.Fatalf("by_age keeps %v before an hour", got)
	}
	clock.Advance(30 * time.Minute) // old finished an hour ago, young half an hour
	if n, err := e.EnforceRetention(ctx); err != nil || n != 1 {
		t.Fatalf("second sweep deleted %d, %v; want the old by_age run", n, err)
	}
	if got := runIDs(t, e, "by_age"); !slices.Equal(got, []string{young}) {
		t.Fatalf("by_age keeps %v, want only %s (not %s)", got, young, old)
	}
	if _, err := e.Get(ctx, old); err == nil {
		t.Fatalf("run %s is still readable", old)
	}
	if n, err := e.EnforceRetention(ctx); err != nil || n != 0 {
		t.Fatalf("a sweep with nothing to do deleted %d, %v", n, err)
	}
}

// A run still going is never deleted, whatever its pipeline's retention.
func TestRetentionKeepsRunsGoing(t *testing.T) {
	clock := newFakeClock()
	reg := NewRegistry()
	release := make(chan struct{})
	mustRegisterTask(t, reg, "wait", func(ctx context.Context, _ Inputs) (any, error) {
		select {
		case <-release:
			return 1, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Retention: Retention{MaxAge: time.Nanosecond, MaxRuns: 1},
		Tasks: []Task{{Name: "wait", Output: "o"}}})
	e := newEngine(t, reg, WithClock(clock.Now), WithRetentionInterval(0))
	ctx := testCtx(t)
	var ids []string
	for range 2 {
		r, err := e.Start(ctx, "p", nil, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	clock.Advance(time.Hour)
	if n, err := e.EnforceRetention(ctx); err != nil || n != 0 {
		t.Fatalf("deleted %d runs still going (%v)", n, err)
	}
	close(release)
	for _, id := range ids {
		waitRun(t, e, id)
	}
	clock.Advance(time.Second)
	if n, err := e.EnforceRetention(ctx); err != nil || n != 2 {
		t.Fatalf("after they finished: deleted %d, %v; want 2", n, err)
	}
}

// The periodic sweep runs on its own and stops with Shutdown.
func TestRetentionSweepsPeriodically(t *testing.T) {
	reg := NewRegistry()
	registerKept(t, reg)
	e := newEngine(t, reg, WithRetentionInterval(5*time.Millisecond))
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := e.Run(ctx, "by_count", map[string]any{"x": i}, StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for len(runIDs(t, e, "by_count")) > 2 {
		select {
		case <-ctx.Done():
			t.Fatal("the sweeper never deleted the third run")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestNegativeRetentionIsRefused(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn(1))
	if err := reg.RegisterPipeline(Pipeline{ID: "p", Retention: Retention{MaxRuns: -1}, Tasks: []Task{{Name: "t", Output: "o"}}}); err == nil {
		t.Fatal("a negative max_runs was accepted")
	}
}
