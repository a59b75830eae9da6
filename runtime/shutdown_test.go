// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Shutdown refuses new runs, lets the running one finish, and leaves no
// goroutine behind.
func TestShutdownDrainsAndLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := NewRegistry()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	mustRegisterTask(t, reg, "t", func(ctx context.Context, _ Inputs) (any, error) {
		once.Do(func() { close(started) })
		<-release
		return "done", nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Timeout: time.Hour, Tasks: []Task{{Name: "t", Output: "o"}}})
	e := New(reg, withHeartbeat(time.Millisecond))
	ctx := testCtx(t)
	run, err := e.Start(ctx, "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.Subscribe(ctx, EventFilter{PipelineID: "p"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	done := make(chan error, 1)
	go func() { done <- e.Shutdown(ctx) }()
	// Start is refused as soon as shutdown begins.
	for {
		_, err := e.Start(ctx, "p", nil, StartOptions{})
		if errors.Is(err, ErrShuttingDown) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the Shutdown goroutine has not run yet
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r, err := e.Get(ctx, run.ID)
	if err != nil || r.Status != RunSucceeded {
		t.Fatalf("drained run: %v %v", r, err)
	}
	for range sub.Events() { // ended by shutdown
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

// At the deadline, Shutdown cancels running tasks and the cut-short runs end
// cancelled; still no goroutine is left.
func TestShutdownDeadlineCancelsTasks(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := NewRegistry()
	started := make(chan struct{})
	mustRegisterTask(t, reg, "t", func(ctx context.Context, _ Inputs) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "o"}}})
	e := New(reg)
	run, err := e.Start(testCtx(t), "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	waitErr := make(chan error, 1)
	go func() {
		r, err := e.Wait(context.Background(), run.ID)
		if err == nil && r.Status != RunCancelled {
			err = errors.New("status " + string(r.Status))
		}
		waitErr <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // deadline already passed
	if err := e.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-waitErr; err != nil {
		t.Fatalf("wait: %v", err)
	}
	r, err := e.Get(context.Background(), run.ID)
	if err != nil || r.Status != RunCancelled {
		t.Fatalf("run after shutdown: %+v %v", r, err)
	}
	if _, err := e.Start(context.Background(), "p", nil, StartOptions{}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("start after shutdown: %v", err)
	}
}
