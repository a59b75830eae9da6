// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// keysOf lists the keys of the runs bucket under filter.
func keysOf(t *testing.T, b *Backend, filter string) []string {
	t.Helper()
	lister, err := b.store.kv.ListKeysFiltered(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys
}

// createRuns creates n pending runs prefix-000... at once on st.
func createRuns(t *testing.T, st driver.Store, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
		wg.Go(func() {
			rec := &driver.RunRecord{ID: ids[i], PipelineID: "p", Status: runtime.RunPending, Values: map[string]runtime.Value{}}
			if _, _, err := st.Create(context.Background(), rec); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

func endRun(t *testing.T, st driver.Store, id string) {
	t.Helper()
	if err := st.Update(context.Background(), id, func(r *driver.RunRecord) error { r.Status = runtime.RunSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
}

func unfinished(t *testing.T, st driver.Store) []string {
	t.Helper()
	ids, err := st.Unfinished(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Runs created at once share their active markers' writes, Unfinished
// lists every run of a batch that has not ended, and a batch's key goes
// once the process has seen all of its runs end: ended by itself, or
// ended elsewhere and passed to Forget (as engines do with run-ended
// events).
func TestMarkerBatches(t *testing.T) {
	s := startServer(t)
	b := connect(t, s.ClientURL())
	other := connect(t, s.ClientURL()) // another process

	const n = 300
	ids := createRuns(t, b.Store(), "r", n)
	batches := keysOf(t, b, "marks.>")
	if len(batches) == 0 || len(batches) > n/4 {
		t.Fatalf("%d runs created at once took %d marker writes", n, len(batches))
	}
	if keys := keysOf(t, b, "active.>"); len(keys) != 0 {
		t.Fatalf("per-run markers: %v", keys)
	}
	if got := unfinished(t, b.Store()); !slices.Equal(got, ids) {
		t.Fatalf("unfinished: %d runs, want %d", len(got), n)
	}
	t.Logf("%d runs, %d marker writes", n, len(batches))

	for _, id := range ids[:n/2] {
		endRun(t, b.Store(), id)
	}
	if got := unfinished(t, other.Store()); !slices.Equal(got, ids[n/2:]) {
		t.Fatalf("unfinished after half ended: %d runs, want %d", len(got), n/2)
	}
	for _, id := range ids[n/2:] {
		endRun(t, other.Store(), id)
		b.store.Forget(id)
	}
	b.store.pending.Wait()
	if keys := keysOf(t, b, "marks.>"); len(keys) != 0 {
		t.Fatalf("marker batches left after every run ended: %v", keys)
	}
	if got := unfinished(t, b.Store()); len(got) != 0 {
		t.Fatalf("unfinished: %v", got)
	}
}

// A batch whose runs all ended without its process seeing it (the process
// went away) is retired by Unfinished in another; one that lists a run
// without a record is kept while that run's create may still be in flight
// (markGrace), and retired after.
func TestMarkerBatchRetiredByUnfinished(t *testing.T) {
	defer func(d time.Duration) { markGrace = d }(markGrace)
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	gone, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ids := createRuns(t, gone.Store(), "g", 50)
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	b := connect(t, s.ClientURL())
	for _, id := range ids[1:] {
		endRun(t, b.Store(), id)
	}
	batches := len(keysOf(t, b, "marks.>"))
	if batches == 0 {
		t.Fatal("no marker batch")
	}
	if got := unfinished(t, b.Store()); !slices.Equal(got, ids[:1]) {
		t.Fatalf("unfinished: %v, want %v", got, ids[:1])
	}
	if got := len(keysOf(t, b, "marks.>")); got != 1 {
		t.Fatalf("%d marker batches after the ended ones were retired, want the unfinished run's one", got)
	}
	endRun(t, b.Store(), ids[0])
	if got := unfinished(t, b.Store()); len(got) != 0 {
		t.Fatalf("unfinished: %v", got)
	}
	if keys := keysOf(t, b, "marks.>"); len(keys) != 0 {
		t.Fatalf("batches left: %v", keys)
	}

	// A batch of a create that died between its marker and its record.
	if _, err := b.store.kv.Put(ctx, "marks.dead-1", []byte(`["never-created"]`)); err != nil {
		t.Fatal(err)
	}
	if got := unfinished(t, b.Store()); len(got) != 0 {
		t.Fatalf("unfinished: %v", got)
	}
	if keys := keysOf(t, b, "marks.>"); len(keys) != 1 {
		t.Fatalf("a young batch with a create perhaps in flight was removed: %v", keys)
	}
	markGrace = 0
	if got := unfinished(t, b.Store()); len(got) != 0 {
		t.Fatalf("unfinished: %v", got)
	}
	if keys := keysOf(t, b, "marks.>"); len(keys) != 0 {
		t.Fatalf("a batch past markGrace whose run was never created is still there: %v", keys)
	}
}

// A second create of a run ID in use fails and leaves the first run's
// marker as it was: its batch goes once that run ends.
func TestRefusedCreateLeavesNoBatch(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	b := connect(t, s.ClientURL())
	ids := createRuns(t, b.Store(), "d", 1)
	rec := &driver.RunRecord{ID: ids[0], PipelineID: "p", Status: runtime.RunPending, Values: map[string]runtime.Value{}}
	if _, _, err := b.Store().Create(ctx, rec); err == nil {
		t.Fatal("a second create of one run ID succeeded")
	}
	endRun(t, b.Store(), ids[0])
	b.store.pending.Wait()
	if keys := keysOf(t, b, "marks.>"); len(keys) != 0 {
		t.Fatalf("batches left: %v", keys)
	}
}

// createTimesOut is a runs bucket whose Create of a run's record stores it
// and then answers with a timeout, as when the answer is lost in a failover.
type createTimesOut struct{ jetstream.KeyValue }

func (kv createTimesOut) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if _, err := kv.KeyValue.Create(ctx, key, value, opts...); err != nil || !strings.HasPrefix(key, "run.") {
		return 0, err
	}
	return 0, nats.ErrTimeout
}

// A create that timed out may have stored its run, which a retry with the
// idempotency key then returns without starting it: the run keeps its
// marker, so that Unfinished (the reconciler) finds it.
func TestTimedOutCreateKeepsItsMarker(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	b := connect(t, s.ClientURL())
	b.store.kv = createTimesOut{b.store.kv}
	rec := &driver.RunRecord{ID: "t", PipelineID: "p", Status: runtime.RunPending, Values: map[string]runtime.Value{}}
	if _, _, err := b.Store().Create(ctx, rec); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("create: %v", err)
	}
	b.store.pending.Wait()
	if got := unfinished(t, b.Store()); !slices.Equal(got, []string{"t"}) {
		t.Fatalf("unfinished: %v, want the run whose create timed out", got)
	}
}

// A start retried with its idempotency key after a create that timed out
// (its run stored, its first task not enqueued) carries the run forward:
// it completes without waiting for the reconciler (30 s by default).
func TestStartRetriedAfterATimedOutCreateRuns(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 10*time.Second)
	b := connect(t, s.ClientURL())
	b.store.kv = createTimesOut{b.store.kv}
	reg := runtime.NewRegistry()
	if err := registerPass3(reg); err != nil {
		t.Fatal(err)
	}
	e := runtime.New(reg, runtime.WithBackend(b))
	defer e.Shutdown(context.Background())
	opts := runtime.StartOptions{IdempotencyKey: "k"}
	if _, err := e.Start(ctx, "pass3", map[string]any{"in": 1}, opts); err == nil {
		t.Fatal("the start whose create timed out succeeded")
	}
	r, err := e.Start(ctx, "pass3", map[string]any{"in": 1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = e.Wait(ctx, r.ID); err != nil || r.Status != runtime.RunSucceeded {
		t.Fatalf("run: %v %v", r, err)
	}
}
