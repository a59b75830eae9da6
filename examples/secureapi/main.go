// SPDX-License-Identifier: Apache-2.0

// Command secureapi is the secure demo: Taskiq-Flow's secure API example
// built from specs/secure_demo.yaml. It serves the pipeline API behind API
// keys, ACLs, rate limits and an audit log, running tasks in memory.
//
//	go run ./examples/secureapi [-addr :8000] [-role all|api|worker] [-broker nats://127.0.0.1:4222] [-task-delay 1s]
//
// With a broker (-broker or TASKWIRE_BROKER) runs, tasks and events go
// through NATS JetStream, and the process plays one role (-role or
// TASKWIRE_ROLE): api serves HTTP and enqueues tasks, worker executes them
// (no HTTP, no keys), all does both. Without a broker everything stays in
// memory in this process. See docs/scaling.md. -task-delay makes every
// task take that long, to watch runs live in the console.
//
// Keys come from TASKWIRE_KEY_ADMIN_FULL and TASKWIRE_KEY_VIEWER_REPORTS;
// when a variable is unset, a strong random key is made for this run and
// printed. The console, a web page over the API, is at /ui/. The audit log
// goes to audit.jsonl in the working directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/deploy"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "secureapi:", err)
		os.Exit(1)
	}
}

// demoKeys are the variables the spec reads its keys from, with the name
// the banner shows.
var demoKeys = []struct{ env, who string }{
	{"TASKWIRE_KEY_ADMIN_FULL", "admin"},
	{"TASKWIRE_KEY_VIEWER_REPORTS", "viewer"},
}

func run(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("secureapi", flag.ContinueOnError)
	addr := fs.String("addr", ":8000", "address to listen on")
	delay := fs.Duration("task-delay", 0, "how long each task takes, to watch runs live in the console (0: as fast as it can)")
	dep := deploy.Flags(fs, securedemo.ServiceName, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dep.Open(ctx, logger); err != nil {
		return err
	}
	defer dep.Close()
	if dep.Role == deploy.RoleWorker {
		// A worker serves no HTTP and needs no keys: it prints none.
		reg := runtime.NewRegistry()
		if err := securedemo.Register(reg, tasks{delay: *delay}); err != nil {
			return err
		}
		fmt.Fprintf(out, "Worker executing tasks from %s\n", dep.Where())
		return dep.RunWorker(ctx, reg, 0)
	}

	keys := map[string]string{}
	var banner []string
	for _, k := range demoKeys {
		v := getenv(k.env)
		if v == "" {
			v, _ = httpapi.NewKey("sk_")
			keys[k.env] = v
			banner = append(banner, fmt.Sprintf("API Key for %s: %s", k.who, v))
		} else {
			banner = append(banner, fmt.Sprintf("API Key for %s: (from %s)", k.who, k.env))
		}
	}
	env := func(name string) string {
		if v, ok := keys[name]; ok {
			return v
		}
		return getenv(name)
	}

	engine, err := securedemo.NewEngine(tasks{delay: *delay}, dep.EngineOptions()...)
	if err != nil {
		return err
	}
	defer func() { // after Serve: requests are done, runs get the grace period
		ctx, cancel := context.WithTimeout(context.Background(), httpapi.ShutdownGrace)
		defer cancel()
		if err := engine.Shutdown(ctx); err != nil {
			logger.Error("shut down the engine", "err", err)
		}
	}()
	srv, err := securedemo.NewServer(engine, append(dep.ServerOptions(), httpapi.WithGetenv(env))...)
	if err != nil {
		return err
	}
	// Carry forward the runs a previous API process left unfinished.
	if err := dep.Resume(ctx, engine); err != nil {
		logger.Error("resume runs", "err", err)
	}
	if err := addExecuteWithAudit(srv); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + displayAddr(l.Addr())
	curlKey := "$TASKWIRE_KEY_ADMIN_FULL"
	if k, ok := keys["TASKWIRE_KEY_ADMIN_FULL"]; ok {
		curlKey = k
	}
	fmt.Fprintln(out, "Starting secure API server...")
	for _, line := range banner {
		fmt.Fprintln(out, line)
	}
	fmt.Fprintf(out, "\nTest with:\n  curl -H \"X-API-Key: %s\" %s/pipelines\n\nConsole at: %s%s (sign in with a key above)\nDocs at: %s/docs\n", curlKey, base, base, httpapi.ConsolePath, base)
	if dep.Distributed() {
		fmt.Fprintf(out, "Role %s, tasks through %s\n", dep.Role, dep.Where())
	}
	return srv.Serve(ctx, l, "", "")
}

// displayAddr turns a listening address into one a browser can use.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
