package natsjs

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/taskwire/taskwire/runtime"
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

// Environment variables read by DeploymentFlags.
const (
	EnvBroker = "TASKWIRE_BROKER"
	EnvRole   = "TASKWIRE_ROLE"
)

// Deployment says how a service process runs: its role and the NATS server
// it shares work through. A generated main does:
//
//	dep := natsjs.DeploymentFlags(fs, os.Getenv)
//	fs.Parse(args)
//	backend, err := dep.Open(ctx, natsjs.Options{})  // nil without -broker
//	if err != nil { ... }
//	if backend != nil { defer backend.Close() }
//	if dep.Role == natsjs.RoleWorker {
//		w, _ := backend.NewWorker(reg, 0)
//		return w.Run(ctx)
//	}
//	srv, _ := httpapi.New(reg, svc, httpapi.WithEngineOptions(dep.EngineOptions(backend)...))
//	if backend != nil { srv.Engine().Resume(ctx) }
type Deployment struct {
	// Role is all, api or worker.
	Role Role
	// Broker is the NATS URL (nats://host:4222, comma-separated for a
	// cluster); empty keeps everything in memory (role all only).
	Broker string
}

// DeploymentFlags registers -role and -broker on fs, with defaults from
// TASKWIRE_ROLE (else all) and TASKWIRE_BROKER read through getenv: flags
// override the environment. The result is filled in by fs.Parse.
func DeploymentFlags(fs *flag.FlagSet, getenv func(string) string) *Deployment {
	d := &Deployment{}
	role := getenv(EnvRole)
	if role == "" {
		role = string(RoleAll)
	}
	fs.Func("role", fmt.Sprintf("process role: api, worker or all (default $%s, else all)", EnvRole), func(s string) error {
		r, err := ParseRole(s)
		d.Role = r
		return err
	})
	fs.StringVar(&d.Broker, "broker", getenv(EnvBroker), fmt.Sprintf("NATS JetStream URL, e.g. nats://127.0.0.1:4222; empty runs in memory (default $%s)", EnvBroker))
	d.Role = Role(role)
	return d
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
func (d *Deployment) Validate() error {
	if _, err := ParseRole(string(d.Role)); err != nil {
		return err
	}
	if d.Broker == "" && d.Role != RoleAll {
		return fmt.Errorf("role %s needs a broker: set -broker or $%s", d.Role, EnvBroker)
	}
	return nil
}

// Distributed reports whether the process shares work through a broker.
func (d *Deployment) Distributed() bool { return d.Broker != "" }

// Open validates d and connects to its broker. It returns a nil Backend
// (and no error) when d has no broker: the service runs in memory.
func (d *Deployment) Open(ctx context.Context, opts Options) (*Backend, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d.Broker == "" {
		return nil, nil
	}
	if opts.Name == "" {
		opts.Name = "taskwire-" + string(d.Role)
	}
	return Connect(ctx, d.Broker, opts)
}

// EngineOptions returns the engine options for the API side of this role:
// none for an in-memory process (b nil), the backend's for role all, and
// the backend's without local workers for role api.
func (d *Deployment) EngineOptions(b *Backend) []runtime.Option {
	if b == nil {
		return nil
	}
	if d.Role == RoleAPI {
		return b.EngineOptions(runtime.WithWorkers(0))
	}
	return b.EngineOptions()
}

// RunWorker runs a worker of reg on b with the given concurrency (default
// runtime.DefaultWorkers) until ctx is done.
func RunWorker(ctx context.Context, b *Backend, reg *runtime.Registry, workers int) error {
	if b == nil {
		return errors.New("natsjs: a worker needs a broker")
	}
	w, err := b.NewWorker(reg, workers)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
