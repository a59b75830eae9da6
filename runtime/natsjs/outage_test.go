// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/taskwire/taskwire/runtime/driver"
)

// recordReader is what Backend.Store offers beyond driver.Store for tests:
// the whole record of a run.
type recordReader interface {
	Record(ctx context.Context, id string) (*driver.RunRecord, error)
}

// A run's state write made while the server is down succeeds once it is
// back on the same store, instead of failing its transition. The outage
// outlasts one JetStream request's timeout (5s): a shorter one is ridden
// out by the client's reconnect buffer alone.
func TestUpdateRidesOutAServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("a 6s outage")
	}
	const outageFor = 6 * time.Second
	dir := t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	s := runServer(t, opts)
	port := s.Addr().(*net.TCPAddr).Port
	o := testOptions()
	o.NATSOptions = []nats.Option{nats.ReconnectWait(50 * time.Millisecond)}
	b, err := Connect(context.Background(), s.ClientURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testCtx(t, 60*time.Second)
	rec := &driver.RunRecord{ID: "r1", PipelineID: "p", Status: driver.RunRunning, Values: map[string]driver.Value{}}
	if _, _, err := b.Store().Create(ctx, rec); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	s.WaitForShutdown()
	down := time.Now()
	restarted := make(chan *server.Server, 1)
	go func() {
		time.Sleep(outageFor)
		o2 := *opts
		o2.Port = port
		s2, err := server.NewServer(&o2)
		if err != nil {
			t.Error(err)
			restarted <- nil
			return
		}
		go s2.Start()
		restarted <- s2
	}()
	// A create is not retried (it may have been stored): it says the
	// backend is unavailable, for its caller to retry.
	if _, _, err := b.Store().Create(context.Background(), &driver.RunRecord{ID: "r2", PipelineID: "p", Status: driver.RunPending, Values: map[string]driver.Value{}}); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("create during the outage: %v, want ErrUnavailable", err)
	}
	// No deadline, as a worker's updates have: each request gets the
	// client's default timeout.
	err = b.Store().Update(context.Background(), "r1", func(r *driver.RunRecord) error { r.Error = "written through the outage"; return nil })
	s2 := <-restarted
	if s2 != nil {
		defer func() { s2.Shutdown(); s2.WaitForShutdown() }()
	}
	if err != nil {
		t.Fatalf("update through a restart: %v", err)
	}
	if time.Since(down) < outageFor {
		t.Fatalf("the update did not wait for the server (%s)", time.Since(down))
	}
	got, err := b.store.Record(ctx, "r1")
	if err != nil || got.Error != "written through the outage" {
		t.Fatalf("record after the restart: %+v %v", got, err)
	}
}

// Setting up rides out what a forming cluster answers (timeouts, 503) and
// gives up at once on any other refusal.
func TestSettingUpRidesOutAnOutage(t *testing.T) {
	b := &Backend{opts: testOptions().withDefaults()}
	ctx := testCtx(t, 10*time.Second)
	calls := 0
	v, err := settingUp(ctx, b, "stream S", func() (int, error) {
		if calls++; calls < 3 {
			return 0, nats.ErrTimeout
		}
		return 7, nil
	})
	if err != nil || v != 7 || calls != 3 {
		t.Fatalf("after two timeouts: %d, %v, %d calls; want 7 after 3", v, err, calls)
	}
	calls = 0
	refused := errors.New("stream name already in use with a different configuration")
	if _, err := settingUp(ctx, b, "stream S", func() (int, error) { calls++; return 0, refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a refusal: %v after %d calls; want it at once", err, calls)
	}
}
