package runtime

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx returns a context bounding a test so that a bug hangs no test
// forever; it is a safety net, never an assertion on speed.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
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
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

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
