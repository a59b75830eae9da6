// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime/driver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx returns a context bounding a test so that a bug hangs no test
// forever; it is a safety net, never an assertion on speed.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	return testutil.Context(t)
}

// newEngine returns an engine over reg, shut down when the test ends.
func newEngine(t *testing.T, reg *Registry, opts ...Option) *Engine {
	t.Helper()
	e := New(reg, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

// fn adapts a func of one input value to a TaskFunc returning it unchanged.
func constFn(out any) TaskFunc {
	return func(context.Context, Inputs) (any, error) { return out, nil }
}

func mustRegisterTask(t *testing.T, reg *Registry, name string, fn TaskFunc) {
	t.Helper()
	if err := reg.RegisterTask(name, fn); err != nil {
		t.Fatal(err)
	}
}

func mustRegisterPipeline(t *testing.T, reg *Registry, p Pipeline) {
	t.Helper()
	if err := reg.RegisterPipeline(p); err != nil {
		t.Fatal(err)
	}
}

// recorder records the order in which tasks finish.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.order = append(r.order, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// fakeClock is a settable clock.
type fakeClock = testutil.Clock

func newFakeClock() *fakeClock { return testutil.NewClock() }

// waitRun waits for the run and fails the test on error.
func waitRun(t *testing.T, e *Engine, id string) *Run {
	t.Helper()
	r, err := e.Wait(testCtx(t), id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return r
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// parts is a backend assembled from pieces, for tests that wrap or share
// them between engines.
type parts struct {
	store        driver.Store
	broker       driver.Broker
	bus          driver.EventBus
	runningAfter time.Duration
}

func (p parts) Store() driver.Store         { return p.store }
func (p parts) Broker() driver.Broker       { return p.broker }
func (p parts) Bus() driver.EventBus        { return p.bus }
func (p parts) Heartbeat() time.Duration    { return 0 }
func (p parts) RunningAfter() time.Duration { return p.runningAfter }

// newParts returns a backend of store and broker with a new memory bus,
// closed when the test ends.
func newParts(t *testing.T, store driver.Store, broker driver.Broker) parts {
	bus := driver.NewMemoryBus()
	t.Cleanup(func() { _ = bus.Close() })
	return parts{store: store, broker: broker, bus: bus}
}

// withHeartbeat sets the heartbeat of an engine on the default backend.
func withHeartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// fieldsOf returns required fields of type any with the given names.
func fieldsOf(names ...string) []Field {
	out := make([]Field, len(names))
	for i, n := range names {
		out[i] = Field{Name: n, Type: "any", Required: true}
	}
	return out
}
