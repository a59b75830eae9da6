// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime"
)

// tasksStream returns the state of the task stream of b's deployment.
func tasksState(t *testing.T, b *Backend) jetstream.StreamState {
	t.Helper()
	st, err := b.js.Stream(testCtx(t, 5*time.Second), b.names.tasksStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// deployment is the continuation tests' setup: a server, one worker
// process with conc slots, and an API engine.
type deployment struct {
	url, dir string
	worker   *workerProc
	b        *Backend
	api      *runtime.Engine
	ctx      context.Context
}

func deploy(t *testing.T, conc int) deployment {
	t.Helper()
	s := startServer(t)
	d := deployment{url: s.ClientURL(), dir: t.TempDir(), ctx: testCtx(t, 30*time.Second)}
	d.worker = startWorker(t, d.url, d.dir, conc)
	d.b, d.api = openAPI(t, d.url, d.dir)
	return d
}

// A worker runs a chain's next task itself, on the delivery of the task
// before it: runs of a three-task chain enqueue one message each, their
// first task's.
func TestContinuationsEnqueueOnlyTheFirstTask(t *testing.T) {
	d := deploy(t, 4)
	b, api, ctx := d.b, d.api, d.ctx
	const n = 20
	for i := range n {
		r, err := api.Run(ctx, "pass3", map[string]any{"in": i}, runtime.StartOptions{})
		if err != nil || r.Status != runtime.RunSucceeded {
			t.Fatalf("run %d: %v %v", i, r, err)
		}
		if q2, err := runtime.Output[int](r, "q2"); err != nil || q2 != i+3 {
			t.Fatalf("run %d: q2 %d %v", i, q2, err)
		}
	}
	var st jetstream.StreamState // the last run's ack may still be on its way
	if !waitUntil(5*time.Second, func() bool { st = tasksState(t, b); return st.Msgs == 0 }) || st.LastSeq != n {
		t.Fatalf("%d runs of a three-task chain: %d task messages enqueued, %d left; want %d and 0", n, st.LastSeq, st.Msgs, n)
	}
}

// A continuation that fails for good fails its run and is dead-lettered
// as itself: the dead letter names its task, not the task it ran after,
// and no message is left behind.
func TestFailedContinuationIsDeadLettered(t *testing.T) {
	d := deploy(t, 1)
	b, api, ctx := d.b, d.api, d.ctx
	r, err := api.Run(ctx, "thenperm", map[string]any{"in": 1}, runtime.StartOptions{})
	if err != nil || r.Status != runtime.RunFailed || !strings.Contains(r.Error, "bad input") {
		t.Fatalf("run: %+v %v", r, err)
	}
	var dead []string
	if !waitUntil(5*time.Second, func() bool {
		dls, err := b.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dead = dead[:0]
		for _, dl := range dls {
			dead = append(dead, dl.Task)
		}
		return len(dead) > 0
	}) || len(dead) != 1 || dead[0] != "perm" {
		t.Fatalf("dead letters of tasks %v, want [perm]", dead)
	}
	// The carrier's ack, sent after the dead letter is written, takes its
	// message out of the stream.
	var st jetstream.StreamState
	if !waitUntil(5*time.Second, func() bool { st = tasksState(t, b); return st.Msgs == 0 }) || st.LastSeq != 1 {
		t.Fatalf("%d task messages enqueued, %d left; want 1 and 0", st.LastSeq, st.Msgs)
	}
}

// A worker stopped while it runs a continuation hands it back: the task
// goes back to pending and to the queue, and another worker runs it as
// its first attempt, at once (not after AckWait or a reconciliation).
func TestContinuationHandedBackByAStoppingWorker(t *testing.T) {
	d := deploy(t, 1)
	first, dir, api, ctx := d.worker, d.dir, d.api, d.ctx
	r, err := api.Start(ctx, "thengate", map[string]any{"in": 1}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(dir, "gate-started-"+r.ID)
	waitFile(t, started, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // past RunningAfter: the gate's start is recorded
	if got, err := api.Get(ctx, r.ID); err != nil || got.Tasks["gate"].Status != runtime.TaskRunning {
		t.Fatalf("gate before the stop: %+v %v", got, err)
	}
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if err := os.Remove(started); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gate-open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	handedBack := time.Now()
	second := startWorker(t, d.url, dir, 1)
	r, err = api.Wait(ctx, r.ID)
	if err != nil || r.Status != runtime.RunSucceeded {
		t.Fatalf("run: %+v %v", r, err)
	}
	if took := time.Since(handedBack); took > 5*time.Second {
		t.Fatalf("the handed back task took %s", took)
	}
	if gate := r.Tasks["gate"]; gate.Attempts != 1 {
		t.Fatalf("gate ran as attempt %d, want 1", gate.Attempts)
	}
	if v, err := runtime.Output[string](r, "vgate"); err != nil || !strings.HasSuffix(v, "@"+itoa(second.pid())) {
		t.Fatalf("gate output %q %v, want it from worker %d", v, err, second.pid())
	}
}

// The reconciler does not enqueue again a continuation that is running:
// the message of the task it runs after still holds it.
func TestReconcileLeavesARunningContinuation(t *testing.T) {
	d := deploy(t, 1)
	dir, api, ctx := d.dir, d.api, d.ctx
	r, err := api.Start(ctx, "thengate", map[string]any{"in": 1}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "gate-started-"+r.ID), 10*time.Second)
	for range 2 { // before and after the gate's start is recorded
		if n, err := api.Reconcile(ctx); err != nil || n != 0 {
			t.Fatalf("reconcile enqueued %d executions (%v)", n, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dir, "gate-open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = api.Wait(ctx, r.ID); err != nil || r.Status != runtime.RunSucceeded || r.Tasks["gate"].Attempts != 1 {
		t.Fatalf("run: %+v %v", r, err)
	}
}
