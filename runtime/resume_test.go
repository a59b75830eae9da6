// SPDX-License-Identifier: Apache-2.0

package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// endsAfterResume is a store in which a run ends elsewhere, its event
// lost, right after Resume has read it unfinished.
type endsAfterResume struct {
	*driver.MemoryStore
	once sync.Once
}

func (s *endsAfterResume) Update(ctx context.Context, id string, fn func(*driver.RunRecord) error) error {
	err := s.MemoryStore.Update(ctx, id, fn)
	s.once.Do(func() {
		_ = s.MemoryStore.Update(ctx, id, func(r *driver.RunRecord) error {
			r.Status, r.FinishedAt = runtime.RunSucceeded, time.Now()
			return nil
		})
	})
	return err
}

type withStore struct {
	*driver.Memory
	store driver.Store
}

func (b withStore) Store() driver.Store { return b.store }

// A run that Resume finds unfinished and that ends before Resume tracks
// it, its event seen before or never, is not waited for forever.
func TestResumeOfARunEndingMeanwhile(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := reg.RegisterTask("t", func(context.Context, runtime.Inputs) (any, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPipeline(runtime.Pipeline{ID: "p", Tasks: []runtime.Task{{Name: "t", Output: "o"}}}); err != nil {
		t.Fatal(err)
	}
	mem := driver.NewMemory()
	first := runtime.New(reg, runtime.WithBackend(mem), runtime.WithWorkers(0))
	defer func() { // its run ends where it sees no event: it stops without waiting for it
		stop, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = first.Shutdown(stop)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := first.Start(ctx, "p", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(withStore{Memory: mem, store: &endsAfterResume{MemoryStore: mem.Runs}}), runtime.WithWorkers(0))
	defer e.Shutdown(context.Background())
	if err := e.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	if got, err := e.Wait(wctx, r.ID); err != nil || got.Status != runtime.RunSucceeded {
		t.Fatalf("wait: %v %v", got, err)
	}
}
