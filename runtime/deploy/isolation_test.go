// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/taskwire/taskwire/runtime"
)

// Two services with default settings on one NATS server never see each
// other's runs or tasks: each completes its own runs, and lists only them.
func TestServicesOnOneServerAreIsolated(t *testing.T) {
	s := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	engines := map[string]*runtime.Engine{}
	for _, svc := range []string{"alpha", "beta"} {
		fs := flag.NewFlagSet(svc, flag.ContinueOnError)
		dep := Flags(fs, svc, func(string) string { return "" })
		if err := fs.Parse([]string{"-broker", s.ClientURL()}); err != nil {
			t.Fatal(err)
		}
		if err := dep.Open(ctx, quiet); err != nil {
			t.Fatal(err)
		}
		defer dep.Close()
		reg := runtime.NewRegistry()
		if err := reg.RegisterTask("t_"+svc, func(context.Context, runtime.Inputs) (any, error) { return svc, nil }); err != nil {
			t.Fatal(err)
		}
		if err := reg.RegisterPipeline(runtime.Pipeline{ID: "p_" + svc, Tasks: []runtime.Task{{Name: "t_" + svc, Output: "o"}}}); err != nil {
			t.Fatal(err)
		}
		e := runtime.New(reg, dep.EngineOptions()...)
		defer e.Shutdown(context.Background())
		engines[svc] = e
	}
	for svc, e := range engines {
		for range 5 {
			r, err := e.Run(ctx, "p_"+svc, nil, runtime.StartOptions{})
			if err != nil || r.Status != runtime.RunSucceeded {
				t.Fatalf("%s: %+v %v", svc, r, err)
			}
		}
	}
	for svc, e := range engines {
		page, err := e.List(ctx, runtime.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Runs) != 5 {
			t.Errorf("%s lists %d runs, want its own 5", svc, len(page.Runs))
		}
		for _, r := range page.Runs {
			if r.PipelineID != "p_"+svc {
				t.Errorf("%s lists a run of %s", svc, r.PipelineID)
			}
		}
	}
}

// startNATS starts an embedded nats-server with JetStream for the test.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}
