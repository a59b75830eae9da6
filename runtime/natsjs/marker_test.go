// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// A key the store removes (a run's active marker at its end, a run and
// its idempotency key at retention) leaves a marker that goes after
// markerTTL, so that the runs bucket's stream does not keep one for every
// run that ever ended and Unfinished does not read them all. A bucket made
// before, without marker TTLs, is upgraded by Connect.
func TestRemovedKeysLeaveNoMarkers(t *testing.T) {
	defer func(d time.Duration) { markerTTL = d }(markerTTL)
	markerTTL = time.Second
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	opts := testOptions().withDefaults()
	names := newNames(opts.Prefix)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: names.runsBucket, History: 1, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	b, err := Connect(ctx, s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := b.Store()
	const n = 200
	for i := range n {
		id := fmt.Sprintf("r%03d", i)
		rec := &driver.RunRecord{ID: id, PipelineID: "p", IdempotencyKey: id, Status: runtime.RunPending, Values: map[string]runtime.Value{}}
		if _, _, err := st.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(ctx, id, func(r *driver.RunRecord) error { r.Status = runtime.RunSucceeded; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	b.store.pending.Wait() // the active markers' removal
	stream, err := js.Stream(ctx, "KV_"+names.runsBucket)
	if err != nil {
		t.Fatal(err)
	}
	subjects := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.NumSubjects
	}
	waitSubjects := func(want uint64, what string) {
		t.Helper()
		if !waitUntil(15*time.Second, func() bool { return subjects() == want }) {
			t.Fatalf("%d subjects in the runs bucket %s, want %d", subjects(), what, want)
		}
	}
	waitSubjects(2*n, "once the runs ended (records and idempotency keys)")
	if un, err := st.Unfinished(ctx); err != nil || len(un) != 0 {
		t.Fatalf("unfinished: %v %v", un, err)
	}
	for i := range n / 2 {
		if err := b.store.DeleteFinished(ctx, fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitSubjects(n, "once half the runs were deleted")
	if _, err := st.Get(ctx, "r000"); err == nil {
		t.Fatal("a deleted run is still there")
	}
	if _, err := st.Get(context.Background(), fmt.Sprintf("r%03d", n-1)); err != nil {
		t.Fatal(err)
	}
}
