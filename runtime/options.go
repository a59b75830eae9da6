// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"crypto/rand"
	"log/slog"
	goruntime "runtime"
	"time"

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
	newID     func() string
}

func newConfig(opts []Option) config {
	c := config{workers: -1}
	for _, o := range opts {
		o(&c)
	}
	if c.workers < 0 {
		c.workers = DefaultWorkers()
	}
	if c.now == nil {
		c.now = time.Now
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
	}
	return c
}

// DefaultWorkers returns the number of task executions an Engine runs at
// once by default: four per available CPU, at least 8.
func DefaultWorkers() int { return max(8, 4*goruntime.GOMAXPROCS(0)) }

// WithBackend sets what the engine or worker runs on: where runs are kept,
// how task messages travel and how events fan out. The default, for an
// Engine, is a driver.Memory owned by the engine (closed by Shutdown); a
// backend passed here is not closed. A Worker needs one.
func WithBackend(b driver.Backend) Option { return func(c *config) { c.backend = b } }

// WithWorkers sets how many task executions run at once in this process.
// Zero makes an Engine that only starts and tracks runs, for deployments
// whose workers run elsewhere (see Worker). The default is DefaultWorkers.
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 0) } }

// WithLogger sets where internal errors and task panics are logged
// (slog.Default by default).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }
