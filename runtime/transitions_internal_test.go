// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/driver"
)

// A task's result recorded twice: the second delivery, whose begin took it
// for a first one (decided on the record its message carried, from before
// the first delivery's write), finds the result stored when it writes its
// own. The first delivery's effects may have been cut short by a crash, so
// the second carries them out again: the successors' messages while the
// run goes on, its end event once it has ended. Acknowledging it with no
// effect left runs waiting forever.
func TestRecordedResultRedrivesEffects(t *testing.T) {
	noop := func(context.Context, Inputs) (any, error) { return 1, nil }
	pl, err := compile(Pipeline{
		ID:     "chain",
		Inputs: []Field{{Name: "in", Type: "int", Required: true}},
		Tasks: []Task{
			{Name: "a", Inputs: []string{"in"}, Output: "x", Type: "int"},
			{Name: "b", Inputs: []string{"x"}, Output: "y", Type: "int"},
		},
	}, map[string]TaskFunc{"a": noop, "b": noop})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var o outcome
	rec := pl.newRecord("R", "", map[string]Value{"in": ValueOf(1)}, now, &o)
	stale := pl.newRecord("R", "", map[string]Value{"in": ValueOf(1)}, now, &o) // the record a's message carries

	// The first delivery of a: begun and completed, b queued.
	o.reset()
	if err := pl.begin(rec, 0, -1, 1, now, &o, true); err != nil {
		t.Fatal(err)
	}
	o.reset()
	if err := pl.complete(rec, 0, -1, 1, ValueOf(2), now, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.msgs) != 1 || o.msgs[0].Task != "b" {
		t.Fatalf("the first completion enqueued %+v, want b", o.msgs)
	}

	// Its redelivery begins from the stale record, runs, and completes
	// on the stored one.
	o.reset()
	if err := pl.begin(stale, 0, -1, 2, now, &o, false); !errors.Is(err, driver.ErrNoChangeAnyRevision) || o.skip {
		t.Fatalf("begin on the carried record: %v, skip %v; want a first delivery's begin", err, o.skip)
	}
	for _, op := range []struct {
		name string
		fn   func(*outcome) error
	}{
		{"complete", func(o *outcome) error { return pl.complete(rec, 0, -1, 2, ValueOf(2), now, o) }},
		{"retry", func(o *outcome) error { return pl.retry(rec, 0, -1, 2, "boom", "", time.Second, now, o) }},
		{"fail", func(o *outcome) error { return pl.fail(rec, 0, -1, 2, "boom", "", now, o) }},
	} {
		o.reset()
		if err := op.fn(&o); !errors.Is(err, driver.ErrNoChange) {
			t.Fatalf("%s of a recorded result: %v, want ErrNoChange", op.name, err)
		}
		if len(o.msgs) != 1 || o.msgs[0].Task != "b" {
			t.Fatalf("%s of a recorded result enqueued %+v, want b again", op.name, o.msgs)
		}
	}

	// b ends the run; a redelivery of b recorded twice announces the end
	// again.
	o.reset()
	if err := pl.begin(rec, 1, -1, 1, now, &o, true); err != nil {
		t.Fatal(err)
	}
	o.reset()
	if err := pl.complete(rec, 1, -1, 1, ValueOf(3), now, &o); err != nil || o.ended != RunSucceeded {
		t.Fatalf("b's completion: %v, ended %q", err, o.ended)
	}
	o.reset()
	if err := pl.complete(rec, 1, -1, 2, ValueOf(3), now, &o); !errors.Is(err, driver.ErrNoChange) {
		t.Fatalf("b recorded twice: %v", err)
	}
	if o.ended != RunSucceeded || len(o.events) != 1 || o.events[0].Type != EventRunSucceeded {
		t.Fatalf("b recorded twice: ended %q, events %+v; want run_succeeded again", o.ended, o.events)
	}
}
