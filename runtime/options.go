package runtime

import (
	"crypto/rand"
	"log/slog"
	goruntime "runtime"
	"time"
)

// Option configures an Engine or a Worker.
type Option func(*config)

type config struct {
	store     Store
	broker    Broker
	bus       EventBus
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
	return c
}

// DefaultWorkers returns the number of task executions an Engine runs at
// once by default: four per available CPU, at least 8.
func DefaultWorkers() int { return max(8, 4*goruntime.GOMAXPROCS(0)) }

// WithStore sets where runs are kept. The default is a MemoryStore owned by
// the engine.
func WithStore(s Store) Option { return func(c *config) { c.store = s } }

// WithBroker sets the task queue. The default is a MemoryBroker owned by the
// engine (closed by Shutdown); a broker passed here is not closed.
func WithBroker(b Broker) Option { return func(c *config) { c.broker = b } }

// WithEventBus sets the event bus. The default is a MemoryBus owned by the
// engine (closed by Shutdown).
func WithEventBus(b EventBus) Option { return func(c *config) { c.bus = b } }

// WithWorkers sets how many task executions run at once in this process.
// Zero makes an Engine that only starts and tracks runs, for deployments
// whose workers run elsewhere (see Worker). The default is DefaultWorkers.
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 0) } }

// WithClock sets the clock used for timestamps and deadlines (time.Now by
// default). Timers still run on real time.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets where internal errors and task panics are logged
// (slog.Default by default).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithHeartbeat makes workers call Delivery.InProgress every d while a task
// runs, for brokers that redeliver unacknowledged messages after an ack
// wait. Zero (the default) sends none.
func WithHeartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithIDGenerator sets the function that makes run IDs (crypto/rand.Text by
// default). IDs must be unique and safe in URLs and NATS subjects.
func WithIDGenerator(f func() string) Option { return func(c *config) { c.newID = f } }
