// SPDX-License-Identifier: Apache-2.0

// Package deploy chooses how one process of a generated service runs: its
// role (api, worker or all) and the backend it shares work through (memory,
// or NATS JetStream). A generated main does:
//
//	dep := deploy.Flags(fs, mysvc.ServiceName, os.Getenv)
//	fs.Parse(args)
//	if err := dep.Open(ctx, logger); err != nil { ... }
//	defer dep.Close()
//	if dep.Role == deploy.RoleWorker {
//		return dep.RunWorker(ctx, reg)
//	}
//	engine := runtime.New(reg, dep.EngineOptions()...)
//	srv, err := httpapi.New(engine, svc, dep.ServerOptions()...)
//	if err := dep.Resume(ctx, engine); err != nil { ... }
//
// Open also sets up the process's telemetry: one telemetry.Metrics shared
// by the engine, the server and the workers (a worker serves it on
// -metrics-addr), and tracing when the OTEL_* environment asks for it.
//
// See docs/scaling.md.
package deploy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/natsjs"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// Role is what a service process does.
type Role string

// Roles.
const (
	// RoleAll serves the HTTP API and executes tasks: the default. Without a
	// broker URL everything stays in memory in this one process.
	RoleAll Role = "all"
	// RoleAPI serves the HTTP API and enqueues tasks for workers elsewhere
	// (an engine WithWorkers(0)). It needs a broker.
	RoleAPI Role = "api"
	// RoleWorker executes tasks and serves no HTTP. It needs a broker.
	RoleWorker Role = "worker"
)

// Environment variables read by Flags.
const (
	EnvBroker  = "TASKWIRE_BROKER"
	EnvRole    = "TASKWIRE_ROLE"
	EnvPrefix  = "TASKWIRE_NATS_PREFIX"
	EnvAckWait = "TASKWIRE_ACK_WAIT"
	// EnvMetricsAddr is where a worker serves its metrics.
	EnvMetricsAddr = "TASKWIRE_METRICS_ADDR"
	// EnvWorkers is how many task executions a process runs at once.
	EnvWorkers = "TASKWIRE_WORKERS"
	// EnvReplicas is the replication factor of the JetStream streams and
	// buckets (1, or 3 in a cluster of three or more servers).
	EnvReplicas = "TASKWIRE_NATS_REPLICAS"
)

// Config says how a service process runs: its role and the NATS server it
// shares work through. Fill it with Flags (or by hand), then Open it.
type Config struct {
	// Role is all, api or worker.
	Role Role
	// Broker is the NATS URL (nats://host:4222, comma-separated for a
	// cluster); empty keeps everything in memory (role all only).
	Broker string
	// Service names the service; the JetStream prefix derives from it (see
	// Prefix).
	Service string
	// NATS configures the JetStream backend; its Logger defaults to the
	// logger given to Open, its Prefix to Prefix(Service).
	NATS natsjs.Options
	// MetricsAddr is where RunWorker serves GET /metrics, without
	// authentication (a missing host means loopback); empty serves none.
	// The API serves its metrics on its own routes (security.metrics).
	MetricsAddr string
	// Getenv reads the OTEL_* variables that turn tracing on
	// (os.Getenv when nil).
	Getenv func(string) string

	// Metrics counts this process's work once Open has run.
	Metrics *telemetry.Metrics
	tracing *sdktrace.TracerProvider

	// Workers is how many task executions this process runs at once (roles
	// all and worker): the bound of every map task's concurrency in the
	// process. Zero means runtime.DefaultWorkers.
	Workers int

	backend *natsjs.Backend
	log     *slog.Logger
	// replicas is -nats-replicas (or its variable) as given, checked by
	// Validate.
	replicas string
}

// Flags registers on fs, with defaults read through getenv (flags override
// the environment): -role (TASKWIRE_ROLE, else all), -broker
// (TASKWIRE_BROKER), -nats-prefix (TASKWIRE_NATS_PREFIX, else derived from
// service, the generated package's ServiceName, so that services sharing
// one NATS server never see each other's runs or tasks), -ack-wait
// (TASKWIRE_ACK_WAIT: how long a task whose worker died waits before it is
// redelivered) and -workers (TASKWIRE_WORKERS: task executions at once,
// else runtime.DefaultWorkers). The result is filled in by fs.Parse.
func Flags(fs *flag.FlagSet, service string, getenv func(string) string) *Config {
	c := &Config{Service: service, Getenv: getenv}
	role := getenv(EnvRole)
	if role == "" {
		role = string(RoleAll)
	}
	fs.Func("role", fmt.Sprintf("process role: api, worker or all (default $%s, else all)", EnvRole), func(s string) error {
		r, err := ParseRole(s)
		c.Role = r
		return err
	})
	fs.StringVar(&c.Broker, "broker", getenv(EnvBroker), fmt.Sprintf("NATS JetStream URL, e.g. nats://127.0.0.1:4222; empty runs in memory (default $%s)", EnvBroker))
	fs.StringVar(&c.NATS.Prefix, "nats-prefix", getenv(EnvPrefix), fmt.Sprintf("prefix of the service's streams, buckets and subjects (default $%s, else %s)", EnvPrefix, Prefix(service)))
	if v := getenv(EnvAckWait); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			c.NATS.AckWait = d
		}
	}
	fs.DurationVar(&c.NATS.AckWait, "ack-wait", c.NATS.AckWait, fmt.Sprintf("how long a task whose worker died waits before another worker gets it (default $%s, else %s)", EnvAckWait, natsjs.DefaultAckWait))
	fs.StringVar(&c.MetricsAddr, "metrics-addr", getenv(EnvMetricsAddr), fmt.Sprintf("where a worker serves GET /metrics without authentication, host:port (a missing host means loopback); empty serves none (default $%s)", EnvMetricsAddr))
	if v := getenv(EnvWorkers); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			c.Workers = n
		}
	}
	fs.Func("workers", fmt.Sprintf("task executions this process runs at once, which bounds the concurrency of map tasks (default $%s, else %d on this machine)", EnvWorkers, runtime.DefaultWorkers()), func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("workers must be a whole number of at least 1, not %q", s)
		}
		c.Workers = n
		return nil
	})
	c.replicas = getenv(EnvReplicas)
	fs.Func("nats-replicas", fmt.Sprintf("replicas of every JetStream stream and bucket: 1, or 3 in a cluster (default $%s, else 1)", EnvReplicas), func(s string) error {
		c.replicas = s
		return nil
	})
	c.Role = Role(role)
	return c
}

// MaxReplicas is the largest replication factor JetStream allows.
const MaxReplicas = 5

func parseReplicas(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxReplicas {
		return 0, fmt.Errorf("replicas %q: want a number from 1 to %d (3 for a cluster of three servers)", s, MaxReplicas)
	}
	return n, nil
}

// Prefix returns the JetStream prefix of a service: its name upper-cased,
// with characters other than letters, digits, - and _ replaced by _
// (natsjs.DefaultPrefix for an empty name).
func Prefix(service string) string {
	if service == "" {
		return natsjs.DefaultPrefix
	}
	b := []byte(strings.ToUpper(service))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAll, RoleAPI, RoleWorker:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: want api, worker or all", s)
}

// Validate checks the role, and that api and worker have a broker.
func (c *Config) Validate() error {
	if _, err := ParseRole(string(c.Role)); err != nil {
		return err
	}
	if c.Broker == "" && c.Role != RoleAll {
		return fmt.Errorf("role %s needs a broker: set -broker or $%s", c.Role, EnvBroker)
	}
	if c.replicas != "" {
		n, err := parseReplicas(c.replicas)
		if err != nil {
			return fmt.Errorf("-nats-replicas (or $%s): %w", EnvReplicas, err)
		}
		c.NATS.Replicas = n
	}
	return nil
}

// Distributed reports whether the process shares work through a broker.
func (c *Config) Distributed() bool { return c.Broker != "" }

// Where names the backend for logs and banners: "memory", or the broker
// URL without credentials.
func (c *Config) Where() string {
	if c.Broker == "" {
		return "memory"
	}
	return natsjs.Redact(c.Broker)
}

// Open validates c and connects to its broker, if it has one. log receives
// the backend's internal errors (slog.Default when nil).
func (c *Config) Open(ctx context.Context, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	c.log = log
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if c.Metrics == nil {
		c.Metrics = telemetry.NewMetrics()
	}
	tp, err := telemetry.NewTracerProvider(ctx, c.Service, getenv)
	if err != nil {
		return err
	}
	c.tracing = tp
	if c.Broker == "" {
		return nil
	}
	opts := c.NATS
	if opts.Prefix == "" {
		opts.Prefix = Prefix(c.Service)
	}
	if opts.Name == "" {
		opts.Name = c.Service + "-" + string(c.Role)
	}
	if opts.Logger == nil {
		opts.Logger = log
	}
	b, err := natsjs.Connect(ctx, c.Broker, opts)
	if err != nil {
		c.shutdownTracing()
		return err
	}
	c.backend = b
	return nil
}

// EngineOptions returns the engine options of this process's API side:
// the backend (none in memory: the engine's own), without local workers
// for role api, with Workers local workers otherwise.
func (c *Config) EngineOptions() []runtime.Option {
	opts := c.telemetryOptions()
	switch {
	case c.Role == RoleAPI && c.backend != nil:
		opts = append(opts, runtime.WithWorkers(0))
	case c.Workers > 0:
		opts = append(opts, runtime.WithWorkers(c.Workers))
	}
	if c.backend == nil {
		return opts
	}
	return append(opts, runtime.WithBackend(c.backend))
}

// telemetryOptions are the options of every engine and worker of the
// process: its logger, metrics and tracer.
func (c *Config) telemetryOptions() []runtime.Option {
	var opts []runtime.Option
	if c.log != nil {
		opts = append(opts, runtime.WithLogger(c.log))
	}
	if c.Metrics != nil {
		opts = append(opts, runtime.WithObserver(c.Metrics))
	}
	if c.tracing != nil {
		opts = append(opts, runtime.WithTracerProvider(c.tracing))
	}
	return opts
}

// ServerOptions returns the HTTP server options of this process: the
// metrics the engine counts in, and the tracer when tracing is on.
func (c *Config) ServerOptions() []httpapi.Option {
	var opts []httpapi.Option
	if c.log != nil {
		opts = append(opts, httpapi.WithLogger(c.log))
	}
	if c.Metrics != nil {
		opts = append(opts, httpapi.WithMetrics(c.Metrics))
	}
	if c.tracing != nil {
		opts = append(opts, httpapi.WithTracerProvider(c.tracing))
	}
	return opts
}

// Tracing reports whether the OTEL_* environment turned tracing on.
func (c *Config) Tracing() bool { return c.tracing != nil }

// Resume carries forward the runs that earlier API processes left
// unfinished (see runtime.Engine.Resume), then reconciles them with the
// broker (runtime.Engine.Reconcile: executions a broker crash lost are
// enqueued again; the engine goes on doing so periodically); in memory
// there are none.
func (c *Config) Resume(ctx context.Context, e *runtime.Engine) error {
	if c.backend == nil {
		return nil
	}
	if err := e.Resume(ctx); err != nil {
		return err
	}
	if _, err := e.Reconcile(ctx); err != nil {
		return err
	}
	return nil
}

// RunWorker executes reg's tasks from the broker, workers at a time
// (c.Workers when workers <= 0, else runtime.DefaultWorkers), until ctx is
// done.
func (c *Config) RunWorker(ctx context.Context, reg *runtime.Registry, workers int) error {
	if c.backend == nil {
		return errors.New("deploy: a worker needs a broker (Open it first)")
	}
	if workers <= 0 {
		workers = c.Workers
	}
	if workers <= 0 {
		workers = runtime.DefaultWorkers()
	}
	opts := append(c.telemetryOptions(), runtime.WithBackend(c.backend), runtime.WithWorkers(workers))
	w, err := runtime.NewWorker(reg, opts...)
	if err != nil {
		return err
	}
	if c.MetricsAddr != "" && c.Metrics != nil {
		stop, err := c.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}
	return w.Run(ctx)
}

// serveMetrics serves the worker's metrics on MetricsAddr until stop.
func (c *Config) serveMetrics() (stop func(), err error) {
	srv, err := httpapi.ServeMetrics(c.MetricsAddr, c.Metrics.Handler(), c.log)
	if err != nil {
		return nil, fmt.Errorf("deploy: metrics address: %w", err)
	}
	return func() { _ = srv.Close() }, nil
}

// shutdownTracing flushes and stops the tracer provider, if any.
func (c *Config) shutdownTracing() {
	if c.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.tracing.Shutdown(ctx); err != nil && c.log != nil {
		c.log.Warn("taskwire: flush traces", "err", err)
	}
	c.tracing = nil
}

// Close closes the backend Open connected to, if any, and flushes the
// spans not yet exported. Shut engines and workers down first.
func (c *Config) Close() error {
	c.shutdownTracing()
	if c.backend == nil {
		return nil
	}
	return c.backend.Close()
}
