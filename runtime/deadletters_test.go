// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// registerFlaky registers pipeline "flaky": a(x) -> b, where b fails
// permanently while *broken holds, and an independent map task m over
// the list input items.
func registerFlaky(t *testing.T, reg *Registry, broken *atomic.Bool) {
	t.Helper()
	mustRegisterTask(t, reg, "a", func(_ context.Context, in Inputs) (any, error) {
		x, err := Input[int](in, "x")
		return x + 1, err
	})
	mustRegisterTask(t, reg, "b", func(_ context.Context, in Inputs) (any, error) {
		if broken.Load() {
			return nil, Permanent(errors.New("b is broken"))
		}
		a, err := Input[int](in, "a_out")
		return a * 10, err
	})
	mustRegisterTask(t, reg, "m", func(_ context.Context, in Inputs) (any, error) {
		v, err := Input[int](in, "items")
		return v * 2, err
	})
	mustRegisterPipeline(t, reg, Pipeline{
		ID:     "flaky",
		Inputs: fieldsOf("x", "items"),
		Tasks: []Task{
			{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
			{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
			{Name: "m", Inputs: []string{"items"}, Output: "m_out", Map: "items"},
		},
		Outputs: fieldsOf("b_out", "m_out"),
	})
}

// waitDeadLetter polls for the first dead letter of run: the worker records
// it just after failing the run.
func waitDeadLetter(t *testing.T, e *Engine, runID string) DeadLetter {
	t.Helper()
	ctx := testCtx(t)
	for {
		page, err := e.DeadLetters(ctx, DeadLetterListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page.DeadLetters {
			if dl.RunID == runID {
				return dl
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no dead letter of run %s", runID)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestRequeueDeadLetterCompletesRun(t *testing.T) {
	reg := NewRegistry()
	var broken atomic.Bool
	broken.Store(true)
	registerFlaky(t, reg, &broken)
	e := newEngine(t, reg)
	ctx := testCtx(t)
	run, err := e.Start(ctx, "flaky", map[string]any{"x": 1, "items": []int{1, 2, 3}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failed := waitRun(t, e, run.ID)
	if failed.Status != RunFailed {
		t.Fatalf("status = %s, want failed", failed.Status)
	}
	dl := waitDeadLetter(t, e, run.ID)
	if dl.Task != "b" || dl.PipelineID != "flaky" || dl.Deliveries != 1 || dl.Reason == "" || dl.Time.IsZero() {
		t.Fatalf("dead letter = %+v", dl)
	}
	if got, err := e.DeadLetter(ctx, dl.ID); err != nil || got.RunID != run.ID {
		t.Fatalf("DeadLetter(%s) = %+v, %v", dl.ID, got, err)
	}

	broken.Store(false)
	reopened, err := e.Requeue(ctx, dl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.ID != run.ID || reopened.Status == RunFailed {
		t.Fatalf("requeue returned run %s %s", reopened.ID, reopened.Status)
	}
	done := waitRun(t, e, run.ID)
	if done.Status != RunSucceeded || done.Error != "" {
		t.Fatalf("after requeue: %s %q", done.Status, done.Error)
	}
	out, err := Decode[int](done.Outputs["b_out"])
	if err != nil || out != 20 {
		t.Fatalf("b_out = %d, %v; want 20", out, err)
	}
	if m, err := Decode[[]int](done.Outputs["m_out"]); err != nil || fmt.Sprint(m) != "[2 4 6]" {
		t.Fatalf("m_out = %v, %v", m, err)
	}
	if _, err := e.DeadLetter(ctx, dl.ID); !errors.Is(err, ErrDeadLetterNotFound) {
		t.Fatalf("dead letter after requeue: %v, want ErrDeadLetterNotFound", err)
	}
	// A second requeue of the same execution finds nothing to requeue.
	if _, err := e.Requeue(ctx, dl.ID); !errors.Is(err, ErrDeadLetterNotFound) {
		t.Fatalf("second requeue: %v", err)
	}
}

func TestRequeueRefusesARunThatIsNotFailed(t *testing.T) {
	reg := NewRegistry()
	var broken atomic.Bool
	broken.Store(true)
	registerFlaky(t, reg, &broken)
	e := newEngine(t, reg)
	ctx := testCtx(t)
	run, err := e.Start(ctx, "flaky", map[string]any{"x": 1, "items": []int{}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, run.ID)
	dl := waitDeadLetter(t, e, run.ID)
	broken.Store(false)
	if _, err := e.Requeue(ctx, dl.ID); err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, e, run.ID); r.Status != RunSucceeded {
		t.Fatalf("after requeue: %s", r.Status)
	}
	broken.Store(true)
	run2, err := e.Start(ctx, "flaky", map[string]any{"x": 2, "items": []int{}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, run2.ID)
	dl2 := waitDeadLetter(t, e, run2.ID)
	if _, err := e.Requeue(ctx, "not-an-id"); !errors.Is(err, ErrDeadLetterNotFound) {
		t.Fatalf("requeue of a bad id: %v", err)
	}
	if _, err := e.Requeue(ctx, dl2.ID); err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, e, run2.ID); r.Status != RunFailed {
		t.Fatalf("requeued while still broken: %s", r.Status)
	}
	if dl3 := waitDeadLetter(t, e, run2.ID); dl3.ID != dl2.ID {
		t.Fatalf("dead letter of the same execution has ID %s, want %s", dl3.ID, dl2.ID)
	}
	// Reopening a run that is not failed is refused by the state machine.
	pl, _ := reg.plan("flaky")
	var o outcome
	err = e.cfg.store.Update(ctx, run.ID, func(rec *driver.RunRecord) error { return pl.reopen(rec, "b", time.Now(), &o) })
	if !errors.Is(err, ErrNotRequeueable) {
		t.Fatalf("reopen of a succeeded run: %v, want ErrNotRequeueable", err)
	}
}

func TestRerunStartsANewRunWithTheSameInputs(t *testing.T) {
	reg := NewRegistry()
	var broken atomic.Bool
	broken.Store(true)
	registerFlaky(t, reg, &broken)
	e := newEngine(t, reg)
	ctx := testCtx(t)
	run, err := e.Start(ctx, "flaky", map[string]any{"x": 4, "items": []int{5}}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, e, run.ID); r.Status != RunFailed {
		t.Fatalf("status = %s", r.Status)
	}
	broken.Store(false)
	again, err := e.Rerun(ctx, run.ID, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == run.ID || again.RerunOf != run.ID {
		t.Fatalf("rerun = %s rerun_of %q, want a new run of %s", again.ID, again.RerunOf, run.ID)
	}
	done := waitRun(t, e, again.ID)
	if b, err := Decode[int](done.Outputs["b_out"]); done.Status != RunSucceeded || err != nil || b != 50 {
		t.Fatalf("rerun: %s b_out=%d %v", done.Status, b, err)
	}
	if orig, _ := e.Get(ctx, run.ID); orig.Status != RunFailed || orig.RerunOf != "" {
		t.Fatalf("original after rerun: %s rerun_of %q", orig.Status, orig.RerunOf)
	}
	if _, err := e.Rerun(ctx, "nope", StartOptions{}); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("rerun of a missing run: %v", err)
	}
}
