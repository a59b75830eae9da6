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
//	if err := dep.Resume(ctx, engine); err != nil { ... }
//
// See docs/scaling.md.
package deploy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/natsjs"
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
// one NATS server never see each other's runs or tasks) and -ack-wait
// (TASKWIRE_ACK_WAIT: how long a task whose worker died waits before it is
// redelivered). The result is filled in by fs.Parse.
func Flags(fs *flag.FlagSet, service string, getenv func(string) string) *Config {
	c := &Config{Service: service}
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
		return err
	}
	c.backend = b
	return nil
}

// EngineOptions returns the engine options of this process's API side:
// the backend (none in memory: the engine's own), without local workers
// for role api.
func (c *Config) EngineOptions() []runtime.Option {
	var opts []runtime.Option
	if c.log != nil {
		opts = append(opts, runtime.WithLogger(c.log))
	}
	if c.backend == nil {
		return opts
	}
	opts = append(opts, runtime.WithBackend(c.backend))
	if c.Role == RoleAPI {
		opts = append(opts, runtime.WithWorkers(0))
	}
	return opts
}

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
// (runtime.DefaultWorkers when workers <= 0), until ctx is done.
func (c *Config) RunWorker(ctx context.Context, reg *runtime.Registry, workers int) error {
	if c.backend == nil {
		return errors.New("deploy: a worker needs a broker (Open it first)")
	}
	if workers <= 0 {
		workers = runtime.DefaultWorkers()
	}
	w, err := runtime.NewWorker(reg, runtime.WithBackend(c.backend), runtime.WithWorkers(workers), runtime.WithLogger(c.log))
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// Close closes the backend Open connected to, if any. Shut engines and
// workers down first.
func (c *Config) Close() error {
	if c.backend == nil {
		return nil
	}
	return c.backend.Close()
}
