// SPDX-License-Identifier: Apache-2.0

// Command loadserver serves the secure demo for load tests (scripts/load.sh)
// in one of these modes:
//
//   - bare: a plain net/http handler answering GET /pipelines with the same
//     JSON, the floor of what any server here can do
//   - insecure: the generated server with security disabled (no
//     authentication, limits or audit)
//   - interval, always: the generated server with security on, every
//     route's rate limit raised out of the way (1e9 per second) and the
//     audit log written to -audit in that sync mode
//   - noaudit: the same with the audit log off, to split the costs
//
// For example:
//
//	go run ./internal/loadserver -mode interval -addr 127.0.0.1:8080 -audit audit.jsonl
//
// The API keys come from TASKWIRE_KEY_ADMIN_FULL and
// TASKWIRE_KEY_VIEWER_REPORTS (at least 32 characters each).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadserver:", err)
		os.Exit(1)
	}
}

type tasks struct{}

func (tasks) ProcessData(_ context.Context, data string) (securedemo.Result, error) {
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

func (tasks) ValidateResult(_ context.Context, r securedemo.Result) (securedemo.Validated, error) {
	return securedemo.Validated{Processed: r.Processed, Status: string(r.Status), Validated: true}, nil
}

func run() error {
	mode := flag.String("mode", "interval", "bare, insecure, interval, always or noaudit")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	auditFile := flag.String("audit", "loadtest-audit.jsonl", "audit log file (secure modes)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	handler, err := server(*mode, *auditFile)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	fmt.Fprintf(os.Stderr, "loadserver: mode=%s listening on %s\n", *mode, l.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if srv, ok := handler.(*httpapi.Server); ok {
		return srv.Serve(ctx, l, "", "")
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server returns the handler of a mode.
func server(mode, auditFile string) (http.Handler, error) {
	if mode == "bare" {
		return http.HandlerFunc(bare), nil
	}
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, tasks{}); err != nil {
		return nil, err
	}
	svc := securedemo.Service()
	switch mode {
	case "insecure":
		svc.Security.Enabled = false
	case "interval", "always", "noaudit":
		svc.Security.RateLimits = &httpapi.Limits{Default: &httpapi.Rate{N: 1e9, Per: time.Second}}
		svc.Security.Audit.Enabled = mode != "noaudit"
		svc.Security.Audit.File = auditFile
		if mode != "noaudit" {
			svc.Security.Audit.Sync = audit.SyncMode(mode)
		}
	default:
		return nil, fmt.Errorf("unknown mode %q: use bare, insecure, interval, always or noaudit", mode)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The engine runs for the life of the process, which the load script
	// ends with a signal.
	srv, err := httpapi.New(runtime.New(reg), svc, httpapi.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// bare answers GET /pipelines as the generated server does, with nothing
// around it.
func bare(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{\"status\":\"ok\"}\n"))
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/pipelines" {
		http.NotFound(w, r)
		return
	}
	body, _ := json.Marshal(map[string][]string{"pipelines": {"secure_demo_pipeline"}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}
