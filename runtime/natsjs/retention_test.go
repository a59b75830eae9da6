// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// Retention by age and by count on JetStream, with the engine's clock
// moved by hand: finished runs are purged from the bucket, runs going are
// kept, and idempotency keys of deleted runs are free again.
func TestRetentionOnJetStream(t *testing.T) {
	s := startServer(t)
	clock := testutil.NewClock()
	reg := runtime.NewRegistry()
	if err := reg.RegisterTask("echo", func(_ context.Context, in runtime.Inputs) (any, error) { return runtime.Input[int](in, "x") }); err != nil {
		t.Fatal(err)
	}
	for id, r := range map[string]runtime.Retention{"by_age": {MaxAge: time.Hour}, "by_count": {MaxRuns: 2}} {
		if err := reg.RegisterPipeline(runtime.Pipeline{ID: id, Retention: r,
			Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
			Tasks:  []runtime.Task{{Name: "echo", Inputs: []string{"x"}, Output: "y"}}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Connect(context.Background(), s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(2), runtime.WithClock(clock.Now), runtime.WithRetentionInterval(0))
	t.Cleanup(func() {
		_ = e.Shutdown(context.Background())
		_ = b.Close()
	})
	ctx := testCtx(t, 60*time.Second)
	run := func(pipeline string, x int, key string) string {
		t.Helper()
		r, err := e.Run(ctx, pipeline, map[string]any{"x": x}, runtime.StartOptions{IdempotencyKey: key})
		if err != nil || r.Status != runtime.RunSucceeded {
			t.Fatalf("run: %v %+v", err, r)
		}
		return r.ID
	}
	ids := func(pipeline string) []string {
		t.Helper()
		page, err := e.List(ctx, runtime.ListOptions{PipelineID: pipeline})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range page.Runs {
			out = append(out, r.ID)
		}
		return out
	}
	old := run("by_age", 1, "k-old")
	clock.Advance(30 * time.Minute)
	young := run("by_age", 2, "")
	var counted []string
	for i := range 3 {
		counted = append(counted, run("by_count", i, ""))
	}
	if n, err := e.EnforceRetention(ctx); err != nil || n != 1 {
		t.Fatalf("first sweep deleted %d, %v; want the oldest by_count run", n, err)
	}
	if got := ids("by_count"); !slices.Equal(got, []string{counted[2], counted[1]}) {
		t.Fatalf("by_count keeps %v, want %v", got, []string{counted[2], counted[1]})
	}
	clock.Advance(30 * time.Minute)
	if n, err := e.EnforceRetention(ctx); err != nil || n != 1 {
		t.Fatalf("second sweep deleted %d, %v; want the old by_age run", n, err)
	}
	if got := ids("by_age"); !slices.Equal(got, []string{young}) {
		t.Fatalf("by_age keeps %v, want only %s", got, young)
	}
	if _, err := b.Store().Get(ctx, old); !errors.Is(err, driver.ErrRunNotFound) {
		t.Fatalf("deleted run: %v", err)
	}
	// Its idempotency key starts a new run now.
	if again := run("by_age", 1, "k-old"); again == old {
		t.Fatal("the idempotency key of a deleted run still names it")
	}
	// DeleteFinished leaves a run going alone.
	rec := &driver.RunRecord{ID: "going", PipelineID: "by_age", Status: driver.RunRunning, Values: map[string]driver.Value{}}
	if _, _, err := b.Store().Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.store.DeleteFinished(ctx, "going"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().Get(ctx, "going"); err != nil {
		t.Fatalf("a run going was deleted: %v", err)
	}
	if err := b.store.DeleteFinished(ctx, "never-was"); err != nil {
		t.Fatalf("deleting a missing run: %v", err)
	}
}

// A run reopened by a requeue is unfinished again for Resume once the
// engine tells the store (its active marker was cleared when it failed).
func TestReopenedRunIsUnfinishedAgain(t *testing.T) {
	s := startServer(t)
	b, err := Connect(context.Background(), s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := testCtx(t, 30*time.Second)
	rec := &driver.RunRecord{ID: "r1", PipelineID: "p", Status: driver.RunRunning, Values: map[string]driver.Value{}}
	if _, _, err := b.Store().Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	set := func(st driver.RunStatus) {
		t.Helper()
		if err := b.Store().Update(ctx, "r1", func(r *driver.RunRecord) error { r.Status = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	set(driver.RunFailed)
	b.store.pending.Wait() // the marker's removal
	if ids, err := b.Store().Unfinished(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("unfinished after the failure: %v %v", ids, err)
	}
	set(driver.RunRunning)
	if err := b.store.Reopened(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if ids, err := b.Store().Unfinished(ctx); err != nil || !slices.Equal(ids, []string{"r1"}) {
		t.Fatalf("unfinished after the reopening: %v %v", ids, err)
	}
}

// A run deleted by retention takes with it what it kept out of its record:
// its large values in the object store and its map elements' outputs.
func TestRetentionDeletesValuesKeptOutOfLine(t *testing.T) {
	s := startServer(t)
	reg := runtime.NewRegistry()
	big := strings.Repeat("x", 8<<10) // over the inline size: an object
	if err := reg.RegisterTask("split", func(_ context.Context, in runtime.Inputs) (any, error) {
		return []string{big + "1", big + "2", big + "3"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterTask("each", func(_ context.Context, in runtime.Inputs) (any, error) {
		return runtime.Input[string](in, "parts")
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPipeline(runtime.Pipeline{ID: "wide", Retention: runtime.Retention{MaxRuns: 1},
		Inputs: []runtime.Field{{Name: "doc", Type: "string", Required: true}},
		Tasks: []runtime.Task{
			{Name: "split", Inputs: []string{"doc"}, Output: "parts", Type: "[]string"},
			{Name: "each", Inputs: []string{"parts"}, Output: "outs", Map: "parts", MapConcurrency: 3},
		}}); err != nil {
		t.Fatal(err)
	}
	b, err := Connect(context.Background(), s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(2), runtime.WithRetentionInterval(0))
	t.Cleanup(func() {
		_ = e.Shutdown(context.Background())
		_ = b.Close()
	})
	ctx := testCtx(t, 60*time.Second)
	first, err := e.Run(ctx, "wide", map[string]any{"doc": big}, runtime.StartOptions{})
	if err != nil || first.Status != runtime.RunSucceeded {
		t.Fatalf("run: %v %+v", err, first)
	}
	vals := b.store.vals
	count := func(runID string) (objects, elements int) {
		t.Helper()
		infos, err := vals.obj.List(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
			t.Fatal(err)
		}
		for _, info := range infos {
			if strings.HasPrefix(info.Name, token(runID)+"/") {
				objects++
			}
		}
		if keys, err := vals.elems.ListKeysFiltered(ctx, token(runID)+".>"); err == nil {
			for range keys.Keys() {
				elements++
			}
		}
		return objects, elements
	}
	if o, el := count(first.ID); o < 2 || el != 3 {
		t.Fatalf("before retention: %d objects and %d element outputs of the run, want its input, its list and 3 elements", o, el)
	}
	second, err := e.Run(ctx, "wide", map[string]any{"doc": big + "!"}, runtime.StartOptions{})
	if err != nil || second.Status != runtime.RunSucceeded {
		t.Fatalf("run: %v %+v", err, second)
	}
	if n, err := e.EnforceRetention(ctx); err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, %v; want the first run", n, err)
	}
	if o, el := count(first.ID); o != 0 || el != 0 {
		t.Errorf("after retention: %d objects and %d element outputs of the deleted run are left", o, el)
	}
	if o, el := count(second.ID); o < 2 || el != 3 {
		t.Errorf("the kept run lost its values: %d objects, %d element outputs", o, el)
	}
}

// On JetStream, as in memory, an idempotency key names one request: sent
// again with the same inputs it returns the first run, with other inputs
// it is refused, from any API process.
func TestIdempotencyKeyReusedWithOtherInputs(t *testing.T) {
	s := startServer(t)
	reg := runtime.NewRegistry()
	if err := reg.RegisterTask("echo", func(_ context.Context, in runtime.Inputs) (any, error) { return runtime.Input[int](in, "x") }); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPipeline(runtime.Pipeline{ID: "keyed",
		Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
		Tasks:  []runtime.Task{{Name: "echo", Inputs: []string{"x"}, Output: "y"}}}); err != nil {
		t.Fatal(err)
	}
	engine := func() *runtime.Engine {
		b, err := Connect(context.Background(), s.ClientURL(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		e := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(1))
		t.Cleanup(func() {
			_ = e.Shutdown(context.Background())
			_ = b.Close()
		})
		return e
	}
	api1, api2 := engine(), engine()
	ctx := testCtx(t, 30*time.Second)
	first, err := api1.Start(ctx, "keyed", map[string]any{"x": 1}, runtime.StartOptions{IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := api2.Start(ctx, "keyed", map[string]any{"x": json.RawMessage(" 1 ")}, runtime.StartOptions{IdempotencyKey: "k"})
	if err != nil || again.ID != first.ID {
		t.Fatalf("same key and inputs: %+v, %v; want run %s", again, err, first.ID)
	}
	if _, err := api2.Start(ctx, "keyed", map[string]any{"x": 2}, runtime.StartOptions{IdempotencyKey: "k"}); !errors.Is(err, runtime.ErrIdempotencyKeyReused) {
		t.Fatalf("same key, other inputs: %v, want ErrIdempotencyKeyReused", err)
	}
}
