// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// flakyEngine returns an engine with workers in this process over a
// JetStream backend on s, running pipeline "flaky": a(x) -> b, where b
// fails permanently while broken holds.
func flakyEngine(t *testing.T, url string, broken *atomic.Bool) (*Backend, *runtime.Engine) {
	t.Helper()
	reg := runtime.NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.RegisterTask("a", func(_ context.Context, in runtime.Inputs) (any, error) {
		x, err := runtime.Input[int](in, "x")
		return x + 1, err
	}))
	must(reg.RegisterTask("b", func(_ context.Context, in runtime.Inputs) (any, error) {
		if broken.Load() {
			return nil, runtime.Permanent(errors.New("b is broken"))
		}
		a, err := runtime.Input[int](in, "a_out")
		return a * 10, err
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{
		ID:     "flaky",
		Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
		Tasks: []runtime.Task{
			{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
			{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
		},
		Outputs: []runtime.Field{{Name: "b_out", Type: "int"}},
	}))
	b, err := Connect(context.Background(), url, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(4))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		_ = b.Close()
	})
	return b, e
}

func waitDead(t *testing.T, e *runtime.Engine, runID string) driver.DeadLetter {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := e.DeadLetters(context.Background(), driver.DeadLetterListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page.DeadLetters {
			if dl.RunID == runID {
				return dl
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter of run %s", runID)
		}
	}
}

// A requeue within the duplicate window is a new delivery, not a repeat
// the server drops: the run completes.
func TestRequeueDeadLetterOnJetStream(t *testing.T) {
	s := startServer(t)
	var broken atomic.Bool
	broken.Store(true)
	_, e := flakyEngine(t, s.ClientURL(), &broken)
	ctx := testCtx(t, 60*time.Second)

	run, err := e.Run(ctx, "flaky", map[string]any{"x": 1}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runtime.RunFailed {
		t.Fatalf("status %s", run.Status)
	}
	dl := waitDead(t, e, run.ID)
	if dl.Task != "b" || dl.Deliveries != 1 || !strings.HasPrefix(dl.Reason, "(error id ") || !strings.HasSuffix(dl.Reason, ") b is broken") || dl.ID != driver.DeadLetterID(run.ID, "b", -1) {
		t.Fatalf("dead letter %+v", dl)
	}
	broken.Store(false)
	if _, err := e.Requeue(ctx, dl.ID); err != nil {
		t.Fatal(err)
	}
	done, err := e.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := driver.Decode[int](done.Outputs["b_out"]); done.Status != runtime.RunSucceeded || err != nil || v != 20 {
		t.Fatalf("after requeue: %s %q b_out=%d", done.Status, done.Error, v)
	}
	if _, err := e.DeadLetter(ctx, dl.ID); !errors.Is(err, runtime.ErrDeadLetterNotFound) {
		t.Fatalf("dead letter after requeue: %v", err)
	}

	again, err := e.Rerun(ctx, run.ID, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rerun, err := e.Wait(ctx, again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rerun.Status != runtime.RunSucceeded || rerun.RerunOf != run.ID {
		t.Fatalf("rerun %s rerun_of %q", rerun.Status, rerun.RerunOf)
	}
}

// Dead letters are listed newest first, a page at a time, filtered by
// pipeline and by an allow function.
func TestDeadLetterPagesOnJetStream(t *testing.T) {
	s := startServer(t)
	var broken atomic.Bool
	broken.Store(true)
	_, e := flakyEngine(t, s.ClientURL(), &broken)
	ctx := testCtx(t, 60*time.Second)
	var ids []string
	for i := range 3 {
		run, err := e.Run(ctx, "flaky", map[string]any{"x": i}, runtime.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitDead(t, e, run.ID)
		ids = append(ids, run.ID)
	}
	var got []string
	opts := driver.DeadLetterListOptions{Limit: 2}
	for {
		page, err := e.DeadLetters(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page.DeadLetters {
			got = append(got, dl.RunID)
		}
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	if len(got) != 3 || got[0] != ids[2] || got[1] != ids[1] || got[2] != ids[0] {
		t.Fatalf("pages = %v, want newest first of %v", got, ids)
	}
	if page, err := e.DeadLetters(ctx, driver.DeadLetterListOptions{PipelineID: "other"}); err != nil || len(page.DeadLetters) != 0 {
		t.Fatalf("other pipeline: %+v %v", page, err)
	}
	if page, err := e.DeadLetters(ctx, driver.DeadLetterListOptions{Allow: func(string) bool { return false }}); err != nil || len(page.DeadLetters) != 0 {
		t.Fatalf("nothing allowed: %+v %v", page, err)
	}
	if _, err := e.DeadLetters(ctx, driver.DeadLetterListOptions{Cursor: "bogus"}); !errors.Is(err, driver.ErrInvalidCursor) {
		t.Fatalf("bogus cursor: %v", err)
	}
}
