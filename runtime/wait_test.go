// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/taskwire/taskwire/runtime/driver"
)

// getCounter is a Store that counts the runs read with Get.
type getCounter struct {
	driver.Store
	gets atomic.Int64
}

func (s *getCounter) Get(ctx context.Context, id string) (*Run, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

// Run reads the run it started once, when it has ended: a run the engine
// started and has not seen end is known to be running, and untrack wakes
// its waiters whichever way it ends (here: tasks run by this engine, and
// by another engine's workers sharing the store, broker and bus).
func TestRunReadsTheRunOnce(t *testing.T) {
	reg := NewRegistry()
	mustRegisterTask(t, reg, "a", constFn(1))
	mustRegisterTask(t, reg, "b", constFn(2))
	mustRegisterPipeline(t, reg, Pipeline{ID: "p", Inputs: fieldsOf("x"), Tasks: []Task{
		{Name: "a", Inputs: []string{"x"}, Output: "a_out"},
		{Name: "b", Inputs: []string{"a_out"}, Output: "b_out"},
	}})
	store := &getCounter{Store: driver.NewMemoryStore()}
	be := newParts(t, store, driver.NewMemoryBroker())
	for _, workers := range []int{4, 0} {
		e := newEngine(t, reg, WithBackend(be), WithWorkers(workers))
		if workers == 0 {
			newEngine(t, reg, WithBackend(be), WithWorkers(4)) // the workers, elsewhere
		}
		const runs = 50
		before := store.gets.Load()
		for range runs {
			r, err := e.Run(testCtx(t), "p", map[string]any{"x": 0}, StartOptions{})
			if err != nil || r.Status != RunSucceeded {
				t.Fatalf("workers %d: %+v %v", workers, r, err)
			}
		}
		if n := store.gets.Load() - before; n != runs {
			t.Errorf("workers %d: %d runs read %d times, want once each", workers, runs, n)
		}
	}
}
