// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// chainRegistry registers pipeline "chain": a(x) -> b, where a calls
// inA first.
func chainRegistry(t *testing.T, inA func(ctx context.Context) error) *runtime.Registry {
	t.Helper()
	reg := runtime.NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.RegisterTask("a", func(ctx context.Context, in runtime.Inputs) (any, error) {
		if err := inA(ctx); err != nil {
			return nil, err
		}
		x, err := runtime.Input[int](in, "x")
		return x + 1, err
	}))
	must(reg.RegisterTask("b", func(_ context.Context, in runtime.Inputs) (any, error) {
		a, err := runtime.Input[int](in, "a_out")
		return a * 10, err
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{
		ID:     "chain",
		Inputs: []runtime.Field{{Name: "x", Type: "int", Required: true}},
		Tasks: []runtime.Task{
			{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
			{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
		},
		Outputs: []runtime.Field{{Name: "b_out", Type: "int"}},
	}))
	return reg
}

// engineOn returns an engine over a new backend on url, shut down at the
// end of the test; reconciliation runs only when the test calls it.
func engineOn(t *testing.T, url string, reg *runtime.Registry, workers int) (*Backend, *runtime.Engine) {
	t.Helper()
	b, err := Connect(context.Background(), url, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(workers), runtime.WithReconcileInterval(0))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		_ = b.Close()
	})
	return b, e
}

// deleteMessage removes the message with ID id from the task stream, as a
// broker crash that lost it would, and fails the test if it is not there.
func deleteMessage(t *testing.T, b *Backend, id string) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		info, err := b.tasks.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; {
			m, err := b.tasks.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.names.tasksSubject))
			if err != nil {
				break
			}
			if m.Header.Get(jetstream.MsgIDHeader) == id {
				if err := b.tasks.DeleteMsg(ctx, m.Sequence); err != nil {
					t.Fatal(err)
				}
				return
			}
			seq = m.Sequence + 1
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s never reached the stream", id)
		}
	}
}

// live returns the executions the stream holds a message of, by their
// message ID without the run's generation.
func live(t *testing.T, b *Backend) map[string]bool {
	t.Helper()
	ids, err := b.broker.LiveMessages(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for id := range ids {
		if i := strings.LastIndex(id, "/g"); i > 0 {
			id = id[:i]
		}
		out[id] = true
	}
	return out
}

// A queued task whose message was deleted from the stream by hand is found
// by the reconciler and enqueued again; a worker then completes the run.
func TestReconcileReenqueuesALostQueuedTask(t *testing.T) {
	s := startServer(t)
	reg := chainRegistry(t, func(context.Context) error { return nil })
	b, api := engineOn(t, s.ClientURL(), reg, 0)
	ctx := testCtx(t, 60*time.Second)
	run, err := api.Start(ctx, "chain", map[string]any{"x": 1}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := driver.TaskMessage{RunID: run.ID, Task: "a", Index: -1}.ID()
	deleteMessage(t, b, id)
	if live(t, b)[id] {
		t.Fatal("the message is still there")
	}
	n, err := api.Reconcile(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reconcile enqueued %d, %v; want 1", n, err)
	}
	if !live(t, b)[id] {
		t.Fatal("the reconciler did not enqueue the lost task")
	}
	// A second pass finds nothing missing.
	if n, err := api.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("second Reconcile enqueued %d, %v", n, err)
	}
	engineOn(t, s.ClientURL(), reg, 2) // the workers
	done, err := api.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := driver.Decode[int](done.Outputs["b_out"]); done.Status != runtime.RunSucceeded || err != nil || v != 20 {
		t.Fatalf("run %s %q b_out=%d", done.Status, done.Error, v)
	}
}

// A task recorded running whose message is gone (the broker lost it while a
// worker held it) goes back to pending and is delivered again, and the run
// completes; the lost execution's late result changes nothing.
func TestReconcileRedeliversALostRunningTask(t *testing.T) {
	s := startServer(t)
	var calls atomic.Int32
	release := make(chan struct{})
	reg := chainRegistry(t, func(ctx context.Context) error {
		if calls.Add(1) == 1 { // the execution whose message is lost
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	b, e := engineOn(t, s.ClientURL(), reg, 4)
	ctx := testCtx(t, 60*time.Second)
	run, err := e.Start(ctx, "chain", map[string]any{"x": 2}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for { // the worker records the start after RunningAfter
		r, err := e.Get(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tasks["a"].Status == runtime.TaskRunning {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("task a never ran")
		case <-time.After(10 * time.Millisecond):
		}
	}
	deleteMessage(t, b, driver.TaskMessage{RunID: run.ID, Task: "a", Index: -1}.ID())
	if n, err := e.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("Reconcile enqueued %d, %v; want 1", n, err)
	}
	done, err := e.Wait(ctx, run.ID)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := driver.Decode[int](done.Outputs["b_out"]); done.Status != runtime.RunSucceeded || err != nil || v != 30 {
		t.Fatalf("run %s %q b_out=%d", done.Status, done.Error, v)
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("task a ran %d times, want 2 (the lost execution and its redelivery)", c)
	}
}

// The memory broker loses nothing: Reconcile does nothing there.
func TestReconcileInMemoryDoesNothing(t *testing.T) {
	reg := chainRegistry(t, func(context.Context) error { return nil })
	e := runtime.New(reg)
	defer e.Shutdown(context.Background())
	if n, err := e.Reconcile(context.Background()); n != 0 || err != nil {
		t.Fatalf("Reconcile in memory: %d %v", n, err)
	}
}
