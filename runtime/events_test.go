// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// A subscriber that never reads loses events but never blocks the engine;
// it learns how many it lost.
func TestSlowSubscriberDoesNotBlockEngine(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "t", constFn(1))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{{Name: "t", Output: "o"}}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	slow, err := e.Subscribe(ctx, EventFilter{PipelineID: "p"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const runs = 50 // each publishes 4 events: far more than the buffer
	for range runs {
		r, err := e.Run(ctx, "p", nil, StartOptions{})
		if err != nil || r.Status != RunSucceeded {
			t.Fatalf("run: %v %v", r, err)
		}
	}
	// Run returns once the store says the run ended, which can be a moment
	// before its last event is published.
	for got := slow.Dropped(); got != 4*runs-2; got = slow.Dropped() {
		if got > 4*runs-2 || ctx.Err() != nil {
			t.Fatalf("dropped %d, want %d", got, 4*runs-2)
		}
		time.Sleep(time.Millisecond)
	}
	// Reading again, the next event says how many were lost before it.
	<-slow.Events()
	<-slow.Events()
	if _, err := e.Run(ctx, "p", nil, StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := <-slow.Events()
	if ev.Type != EventRunStarted || ev.Dropped != 4*runs-2 {
		t.Fatalf("event after loss: %s dropped %d", ev.Type, ev.Dropped)
	}
}

// A late subscriber to a run gets its state first, then live events, and
// the stream ends after the run's terminal event.
func TestLateSubscriberGetsSnapshotFirst(t *testing.T) {
	reg := NewRegistry()
	gate := make(chan struct{})
	mustRegisterTask(t, reg, "first", constFn("a"))
	mustRegisterTask(t, reg, "second", func(context.Context, Inputs) (any, error) {
		<-gate
		return "b", nil
	})
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Tasks: []Task{
		{Name: "first", Output: "a"},
		{Name: "second", Inputs: []string{"a"}, Output: "b"},
	}})
	e := newEngine(t, reg)
	ctx := testCtx(t)
	started := make(chan struct{})
	watch, err := e.Subscribe(ctx, EventFilter{PipelineID: "p", Types: []EventType{EventTaskStarted}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	run, err := e.Start(ctx, "p", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range watch.Events() {
			if ev.Task == "second" {
				close(started)
				return
			}
		}
	}()
	<-started // first has succeeded, second is blocked
	sub, err := e.Subscribe(ctx, EventFilter{RunID: run.ID}, 10)
	if err != nil {
		t.Fatal(err)
	}
	close(gate)
	var got []Event
	for ev := range sub.Events() {
		got = append(got, ev)
	}
	if len(got) < 3 || got[0].Type != EventSnapshot || got[0].Run == nil {
		t.Fatalf("events %+v", got)
	}
	snap := got[0].Run
	if snap.Status != RunRunning || snap.Tasks["first"].Status != TaskSucceeded || snap.Tasks["second"].Status != TaskRunning {
		t.Fatalf("snapshot %+v", snap)
	}
	if last := got[len(got)-1]; last.Type != EventRunSucceeded {
		t.Fatalf("last event %s", last.Type)
	}
	if got[len(got)-2].Type != EventTaskSucceeded || got[len(got)-2].Task != "second" {
		t.Fatalf("live events %+v", got[1:])
	}
	// Subscribing to a finished run: the snapshot, then the end.
	late, err := e.Subscribe(ctx, EventFilter{RunID: run.ID}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := <-late.Events()
	if !ok || ev.Type != EventSnapshot || ev.Run.Status != RunSucceeded {
		t.Fatalf("late snapshot %+v %v", ev, ok)
	}
	if _, ok := <-late.Events(); ok {
		t.Fatal("stream of a finished run did not end")
	}
	// Events are JSON.
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || back.Run.ID != run.ID {
		t.Fatalf("round trip: %v %s", err, b)
	}
}

func TestSubscriptionEndsWithContext(t *testing.T) {
	bus := driver.NewMemoryBus()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := bus.Subscribe(ctx, EventFilter{}, driver.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range sub.Events() {
	}
	_ = sub.Close() // idempotent
	if err := bus.Publish(context.Background(), Event{Type: EventRunStarted}); err != nil {
		t.Fatal(err)
	}
}
