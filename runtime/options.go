// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"crypto/rand"
	"log/slog"
	goruntime "runtime"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Option configures an Engine or a Worker.
type Option func(*config)

type config struct {
	backend   driver.Backend
	store     driver.Store
	broker    driver.Broker
	bus       driver.EventBus
	workers   int
	now       func() time.Time
	log       *slog.Logger
	heartbeat time.Duration
	// runningAfter is how long an attempt runs before its start is
	// written; zero writes it before the task is called.
	runningAfter time.Duration
	newID        func() string
	// brokerRetry bounds how long a refused enqueue is retried.
	brokerRetry time.Duration
	// unknownTimeout bounds how long a task no local worker knows waits
	// for one that does.
	unknownTimeout time.Duration
	// obs, when set, counts this process's work; tracer, when set,
	// traces it.
	obs    Observer
	tracer trace.Tracer
	// retentionInterval is how often an engine enforces retention; zero
	// with retentionSet turns it off.
	retentionInterval time.Duration
	retentionSet      bool
	// reconcileInterval is how often an engine reconciles unfinished runs
	// with a broker that can lose messages; zero turns it off.
	reconcileInterval time.Duration
	reconcileSet      bool
}

func newConfig(opts []Option) config {
	c := config{workers: -1, brokerRetry: DefaultBrokerRetry, unknownTimeout: DefaultUnknownTaskTimeout}
	for _, o := range opts {
		o(&c)
	}
	if c.workers < 0 {
		c.workers = DefaultWorkers()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if !c.retentionSet {
		c.retentionInterval = DefaultRetentionInterval
	}
	if !c.reconcileSet {
		c.reconcileInterval = DefaultReconcileInterval
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.newID == nil {
		c.newID = rand.Text
	}
	if c.backend != nil {
		c.store, c.broker, c.bus = c.backend.Store(), c.backend.Broker(), c.backend.Bus()
		c.heartbeat = c.backend.Heartbeat()
		c.runningAfter = c.backend.RunningAfter()
	}
	return c
}

// DefaultWorkers returns the number of task executions an Engine or a
// Worker runs at once by default: four per available CPU, at least
// MinDefaultWorkers. It also bounds how many elements of a map task run at
// once in the process, whatever the task's concurrency.
func DefaultWorkers() int { return max(MinDefaultWorkers, 4*goruntime.GOMAXPROCS(0)) }

// MinDefaultWorkers is the least DefaultWorkers returns (on a machine of
// two CPUs or fewer); `taskwire validate` warns about map tasks whose
// concurrency is above it.
const MinDefaultWorkers = 8

// WithBackend sets what the engine or worker runs on: where runs are kept,
// how task messages travel and how events fan out. The default, for an
// Engine, is a driver.Memory owned by the engine (closed by Shutdown); a
// backend passed here is not closed. A Worker needs one.
func WithBackend(b driver.Backend) Option { return func(c *config) { c.backend = b } }

// WithWorkers sets how many task executions run at once in this process.
// Zero makes an Engine that only starts and tracks runs, for deployments
// whose workers run elsewhere (see Worker). The default is DefaultWorkers.
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 0) } }

// DefaultBrokerRetry is how long a task the broker refuses to enqueue is
// retried, with backoff, before its run fails.
const DefaultBrokerRetry = 30 * time.Second

// WithBrokerRetry sets how long a task the broker refuses to enqueue (a
// broker outage) is retried, with backoff, before its run fails with the
// reason; DefaultBrokerRetry by default. A worker that stops meanwhile
// hands the delivery back instead, and its redelivery enqueues the task.
func WithBrokerRetry(d time.Duration) Option { return func(c *config) { c.brokerRetry = max(d, 0) } }

// DefaultUnknownTaskTimeout is how long a task message that a worker has no
// pipeline or task for waits for a worker that has it.
const DefaultUnknownTaskTimeout = time.Minute

// WithUnknownTaskTimeout sets how long a task message this worker has no
// pipeline or task for keeps going back to the broker for a worker that has
// it (DefaultUnknownTaskTimeout by default). After that, or at its last
// delivery, its run fails with an error naming the worker and what it
// lacks, and the message is dead-lettered.
func WithUnknownTaskTimeout(d time.Duration) Option {
	return func(c *config) { c.unknownTimeout = max(d, 0) }
}

// WithClock sets the clock the engine or worker reads (time.Now by
// default): the times recorded in runs and events, task deadlines, and the
// pipeline deadline every transition checks. For tests that move time
// instead of waiting for it; the engine's own pipeline-timeout timers
// still count real time.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets where internal errors and task panics are logged
// (slog.Default by default).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }
