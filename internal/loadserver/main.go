// SPDX-License-Identifier: Apache-2.0

// Command loadserver serves the secure demo for load tests (scripts/load.sh):
// with -secure=true, every route's rate limit is raised out of the way
// (1e9 per second) and the audit log is on, written to -audit; with
// -secure=false, security is disabled (no authentication, limits or audit).
//
//	go run ./internal/loadserver -secure=true -addr 127.0.0.1:8080 -audit /tmp/audit.jsonl
//
// The API keys come from TASKWIRE_KEY_ADMIN_FULL and
// TASKWIRE_KEY_VIEWER_REPORTS (at least 32 characters each).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
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
	secure := flag.Bool("secure", true, "authentication, rate limits (raised to 1e9/s) and the audit log")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	auditFile := flag.String("audit", "loadtest-audit.jsonl", "audit log file (with -secure)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	noAudit := flag.Bool("no-audit", false, "with -secure: keep authentication and limits, turn the audit log off (to split the cost)")
	flag.Parse()

	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, tasks{}); err != nil {
		return err
	}
	svc := securedemo.Service()
	if *secure {
		svc.Security.RateLimits = &httpapi.Limits{Default: &httpapi.Rate{N: 1e9, Per: time.Second}}
		svc.Security.Audit.Enabled = !*noAudit
		svc.Security.Audit.File = *auditFile
	} else {
		svc.Security.Enabled = false
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	engine := runtime.New(reg)
	defer engine.Shutdown(context.Background())
	srv, err := httpapi.New(engine, svc, httpapi.WithLogger(log))
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
	fmt.Fprintf(os.Stderr, "loadserver: secure=%v listening on %s\n", *secure, l.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Serve(ctx, l, "", "")
}
