// SPDX-License-Identifier: Apache-2.0

// Package natsjs runs taskwire pipelines across processes on NATS
// JetStream. A Backend provides the three pieces the runtime needs:
//
//   - Broker: task executions on a work-queue stream (TASKWIRE_TASKS,
//     subject taskwire.tasks) read by one durable pull consumer shared by
//     every worker (TASKWIRE_WORKERS), with explicit acks, AckWait kept
//     alive by InProgress heartbeats, MaxDeliver, NakWithDelay for retries,
//     Term for permanent failures, Nats-Msg-Id deduplication of enqueues,
//     and dead-letter records (KV bucket TASKWIRE_DEAD).
//   - Store: run records in the KV bucket TASKWIRE_RUNS, updated by
//     compare-and-swap on the key's revision; creation order in the stream
//     TASKWIRE_RUNINDEX for newest-first listing with cursors. Values too
//     large for a record (over 4 KiB, up to Options.MaxValueSize) are
//     objects of the object store TASKWIRE_VALUES, and the element outputs
//     of map tasks keys of the KV bucket TASKWIRE_ELEMENTS.
//   - Bus: events on core NATS subjects
//     taskwire.events.<pipeline>.<run>.<type>.
//
// A generated service's main picks a role (api, worker or all) with
// Deployment; see docs/scaling.md.
package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// Defaults of Options.
const (
	DefaultPrefix          = "TASKWIRE"
	DefaultAckWait         = 30 * time.Second
	DefaultMaxDeliver      = 10
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultRunningAfter    = 100 * time.Millisecond
	// DefaultMaxValueSize is the largest value (a pipeline input, a task
	// output or a map element's output, as JSON) a run keeps by default.
	DefaultMaxValueSize = 64 << 20
)

// Options configures a Backend. The zero value is usable. Every process of
// a deployment (API and workers) must use the same Prefix, AckWait,
// MaxDeliver and DuplicateWindow: the last process to start sets the
// stream and consumer configuration.
type Options struct {
	// Prefix names the streams, buckets and consumer (PREFIX_TASKS,
	// PREFIX_RUNINDEX, PREFIX_RUNS, PREFIX_VALUES, PREFIX_ELEMENTS,
	// PREFIX_DEAD, PREFIX_WORKERS) and, in
	// lower case, the subjects (prefix.tasks, prefix.runindex,
	// prefix.events.>). Default DefaultPrefix. Several deployments can share
	// one NATS server with different prefixes.
	Prefix string
	// AckWait is how long the server waits for a worker's ack, or for a
	// heartbeat, before it redelivers a task to another worker. Default
	// DefaultAckWait.
	AckWait time.Duration
	// Heartbeat is how often a worker tells the server a task is still
	// running (InProgress). Default AckWait/3.
	Heartbeat time.Duration
	// MaxDeliver bounds the deliveries of one task execution (attempts and
	// redeliveries after crashes together). An execution that still fails
	// at its last delivery is dead-lettered and its run fails. Default
	// DefaultMaxDeliver.
	MaxDeliver int
	// DuplicateWindow is how long the task stream remembers message IDs to
	// drop repeated enqueues. Default DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// Replicas is the replication factor of streams and buckets in a
	// clustered JetStream. Default 1.
	Replicas int
	// RunningAfter is how long a task attempt runs before its start (the
	// run and task running, the attempt count) is written to the run's
	// record: an attempt shorter than that is written once, at its end,
	// instead of twice. Default DefaultRunningAfter; a negative value
	// writes every start before the task is called.
	RunningAfter time.Duration
	// MaxValueSize is the largest value, as JSON, that a run keeps: a
	// pipeline input, a task output or a map element's output. A task
	// whose output is larger fails at once, with the size in its error,
	// and is not retried; a run started with a larger input is refused.
	// Values over 4 KiB are kept in the object store PREFIX_VALUES, in
	// chunks below the server's max payload. Default DefaultMaxValueSize.
	MaxValueSize int64
	// OutageRetry is how long a write of a run's state is retried, with
	// backoff, while the server is unreachable or without a JetStream
	// leader (a restart, a failover), before the transition fails. Default
	// DefaultOutageRetry; negative writes once.
	OutageRetry time.Duration
	// MemoryStorage keeps streams and buckets in memory instead of files:
	// faster, but a server restart loses everything.
	MemoryStorage bool
	// Name is the NATS connection name, shown by the server's monitoring.
	Name string
	// NATSOptions are extra options for nats.Connect (credentials, TLS...),
	// applied after Connect's own: a handler given here replaces the one
	// that logs the connection's events (connLogging).
	NATSOptions []nats.Option
	// Logger receives internal errors (slog.Default by default).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = o.AckWait / 3
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.RunningAfter == 0 {
		o.RunningAfter = DefaultRunningAfter
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxValueSize <= 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.OutageRetry == 0 {
		o.OutageRetry = DefaultOutageRetry
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// names are the JetStream resources of a deployment.
type names struct {
	tasksStream, tasksSubject string
	consumer                  string
	indexStream, indexSubject string
	runsBucket, deadBucket    string
	valuesBucket, elemsBucket string
	events                    string // subject prefix of events
}

func newNames(prefix string) names {
	p, s := strings.ToUpper(prefix), strings.ToLower(prefix)
	return names{
		tasksStream: p + "_TASKS", tasksSubject: s + ".tasks",
		consumer:    p + "_WORKERS",
		indexStream: p + "_RUNINDEX", indexSubject: s + ".runindex",
		runsBucket: p + "_RUNS", deadBucket: p + "_DEAD",
		valuesBucket: p + "_VALUES", elemsBucket: p + "_ELEMENTS",
		events: s + ".events",
	}
}

// Backend is a connection to a JetStream deployment: a Store, a Broker and
// an EventBus sharing one NATS connection. Create it with Connect (or New
// over a connection you own) and release it with Close.
type Backend struct {
	opts   Options
	names  names
	nc     *nats.Conn
	ownNC  bool
	js     jetstream.JetStream
	store  *Store
	broker *Broker
	bus    *Bus
	tasks  jetstream.Stream
	maxSub *nats.Subscription // max-deliveries advisories
}

// Connect connects to the NATS server at url (for example
// nats://127.0.0.1:4222; a comma-separated list for a cluster) and returns a
// Backend over it, creating the streams, buckets and consumer when missing.
func Connect(ctx context.Context, url string, opts Options) (*Backend, error) {
	opts = opts.withDefaults()
	nopts := append([]nats.Option{nats.MaxReconnects(-1)}, connLogging(opts.Logger)...)
	if opts.Name != "" {
		nopts = append(nopts, nats.Name(opts.Name))
	}
	nopts = append(nopts, opts.NATSOptions...)
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("natsjs: connect to %s: %w", Redact(url), err)
	}
	b, err := New(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.ownNC = true
	return b, nil
}

// connLogging makes the connection's asynchronous events lines of log:
// errors that reach no caller (a subscriber too slow, whose messages the
// client drops; a permission refused to a subscription), losing the
// server and finding it again. Without them nats.go says nothing, and a
// dropped message would only show as a task redelivered after AckWait.
func connLogging(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			log.Error("taskwire: nats asynchronous error", attrs...)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("taskwire: disconnected from nats", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("taskwire: reconnected to nats", "server", nc.ConnectedUrlRedacted())
		}),
	}
}

// New returns a Backend over an existing connection, which Close leaves
// open.
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Backend, error) {
	opts = opts.withDefaults()
	if !validName(opts.Prefix) {
		return nil, fmt.Errorf("natsjs: prefix %q: use letters, digits, - and _", opts.Prefix)
	}
	if opts.Replicas > 5 {
		return nil, fmt.Errorf("natsjs: %d replicas: JetStream allows 1 to 5", opts.Replicas)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	b := &Backend{opts: opts, names: newNames(opts.Prefix), nc: nc, js: js}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func validName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

func (b *Backend) storage() jetstream.StorageType {
	if b.opts.MemoryStorage {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// settingUp calls op, which makes or looks up one of the deployment's
// streams, buckets or its consumer, riding out an outage as a run's writes
// do (Options.OutageRetry): a cluster still electing its leaders answers
// late or with 503 for a while.
func settingUp[T any](ctx context.Context, b *Backend, what string, op func() (T, error)) (T, error) {
	var v T
	err := ridingOut(ctx, max(b.opts.OutageRetry, 0), b.opts.Logger, "set up "+what, func() error {
		var err error
		v, err = op()
		return err
	})
	return v, err
}

// streamConfig is the configuration of one of the deployment's streams.
func (b *Backend) streamConfig(name, description, subject string, retention jetstream.RetentionPolicy) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Description: description, Subjects: []string{subject},
		Retention: retention, Storage: b.storage(), Replicas: b.opts.Replicas}
}

// bucketConfig is the configuration of one of the deployment's KV
// buckets, which keep a key's last value only.
func (b *Backend) bucketConfig(name, description string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: name, Description: description, History: 1,
		Storage: b.storage(), Replicas: b.opts.Replicas}
}

// bucket creates or updates a KV bucket.
func (b *Backend) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := settingUp(ctx, b, "bucket "+cfg.Bucket, func() (jetstream.KeyValue, error) { return b.js.CreateOrUpdateKeyValue(ctx, cfg) })
	if err != nil {
		return nil, fmt.Errorf("natsjs: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// setup creates or updates the streams, buckets and consumer.
func (b *Backend) setup(ctx context.Context) error {
	n, o := b.names, b.opts
	tasksCfg := b.streamConfig(n.tasksStream, "taskwire task executions (work queue)", n.tasksSubject, jetstream.WorkQueuePolicy)
	tasksCfg.Duplicates = o.DuplicateWindow
	tasks, err := settingUp(ctx, b, "stream "+n.tasksStream, func() (jetstream.Stream, error) { return b.js.CreateOrUpdateStream(ctx, tasksCfg) })
	if err != nil {
		return fmt.Errorf("natsjs: stream %s: %w", n.tasksStream, err)
	}
	_, err = settingUp(ctx, b, "consumer "+n.consumer, func() (jetstream.Consumer, error) {
		return b.js.CreateOrUpdateConsumer(ctx, n.tasksStream, jetstream.ConsumerConfig{
			Durable:       n.consumer,
			Description:   "taskwire workers",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       o.AckWait,
			MaxDeliver:    o.MaxDeliver,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 10000,
		})
	})
	if err != nil {
		return fmt.Errorf("natsjs: consumer %s: %w", n.consumer, err)
	}
	indexCfg := b.streamConfig(n.indexStream, "taskwire run creation order", n.indexSubject, jetstream.LimitsPolicy)
	index, err := settingUp(ctx, b, "stream "+n.indexStream, func() (jetstream.Stream, error) { return b.js.CreateOrUpdateStream(ctx, indexCfg) })
	if err != nil {
		return fmt.Errorf("natsjs: stream %s: %w", n.indexStream, err)
	}
	runsCfg := b.bucketConfig(n.runsBucket, "taskwire runs")
	runsCfg.LimitMarkerTTL = markerTTL // for the removal markers' TTL (see Store.remove)
	runs, err := b.bucket(ctx, runsCfg)
	ttl := markerTTL
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) { // a server before 2.11: markers stay
		runsCfg.LimitMarkerTTL, ttl = 0, 0
		runs, err = b.bucket(ctx, runsCfg)
	}
	if err != nil {
		return err
	}
	dead, err := b.bucket(ctx, b.bucketConfig(n.deadBucket, "taskwire dead letters"))
	if err != nil {
		return err
	}
	obj, err := settingUp(ctx, b, "object store "+n.valuesBucket, func() (jetstream.ObjectStore, error) {
		return b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      n.valuesBucket,
			Description: "taskwire values too large for a run record",
			Storage:     b.storage(),
			Replicas:    o.Replicas,
		})
	})
	if err != nil {
		return fmt.Errorf("natsjs: object store %s: %w", n.valuesBucket, err)
	}
	elems, err := b.bucket(ctx, b.bucketConfig(n.elemsBucket, "taskwire outputs of map task elements"))
	if err != nil {
		return err
	}
	b.store = &Store{js: b.js, nc: b.nc, kv: runs, markerTTL: ttl, index: index, indexSubject: n.indexSubject, log: o.Logger,
		vals: &values{obj: obj, elems: elems, max: o.MaxValueSize, log: o.Logger}}
	b.store.marks.init()
	b.bus = newBus(b.nc, n.events, o.Logger)
	b.bus.lookup = b.store.Get
	b.bus.finals = &b.store.finals
	b.broker = &Broker{
		js: b.js, stream: n.tasksStream, consumer: n.consumer, subject: n.tasksSubject, maxDeliver: o.MaxDeliver, store: b.store,
		dead: dead, log: o.Logger, done: make(chan struct{}),
	}
	b.broker.onExhausted = b.failExhausted
	b.tasks = tasks
	// A worker killed during a message's last allowed delivery never Naks
	// it: the server gives up silently but for this advisory. One backend
	// of the deployment (a queue group) dead-letters it and fails its run.
	adv := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + n.tasksStream + "." + n.consumer
	if b.maxSub, err = b.nc.QueueSubscribe(adv, n.consumer+"_ADVISORIES", b.onMaxDeliveries); err != nil {
		return fmt.Errorf("natsjs: subscribe to advisories: %w", err)
	}
	return nil
}

// onMaxDeliveries handles a max-deliveries advisory: the execution whose
// last delivery was never settled (its worker died) is dead-lettered,
// removed from the work queue, and its run failed.
func (b *Backend) onMaxDeliveries(m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries int    `json:"deliveries"`
	}
	if json.Unmarshal(m.Data, &adv) != nil || adv.StreamSeq == 0 {
		return
	}
	go func() { // not on the connection's dispatch goroutine: it makes requests
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		raw, err := b.tasks.GetMsg(ctx, adv.StreamSeq)
		if err != nil {
			return // settled meanwhile
		}
		var tm driver.TaskMessage
		if json.Unmarshal(raw.Data, &tm) != nil {
			return
		}
		reason := fmt.Sprintf("delivered %d times (max deliver %d) without being settled", adv.Deliveries, b.opts.MaxDeliver)
		b.broker.deadLetter(tm, adv.Deliveries, reason, true)
		if err := b.tasks.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			b.opts.Logger.Error("taskwire: remove dead task message", "message", tm.ID(), "err", err)
		}
		b.failExhausted(tm, adv.Deliveries, reason)
	}()
}

// Store returns the backend's run store, whose updates ride out outages
// of up to Options.OutageRetry.
func (b *Backend) Store() driver.Store {
	return outageStore{Store: b.store, bound: max(b.opts.OutageRetry, 0)}
}

// Broker returns the backend's task broker.
func (b *Backend) Broker() driver.Broker { return b.broker }

// Bus returns the backend's event bus.
func (b *Backend) Bus() driver.EventBus { return b.bus }

// Heartbeat returns Options.Heartbeat: how often workers tell the server a
// task is still running, so that it is not redelivered after AckWait.
func (b *Backend) Heartbeat() time.Duration { return b.opts.Heartbeat }

// RunningAfter returns Options.RunningAfter.
func (b *Backend) RunningAfter() time.Duration { return b.opts.RunningAfter }

// Conn returns the NATS connection.
func (b *Backend) Conn() *nats.Conn { return b.nc }

// Options returns the options in force, defaults applied.
func (b *Backend) Options() Options { return b.opts }

// DeadLetters returns the dead-letter records, oldest first.
func (b *Backend) DeadLetters(ctx context.Context) ([]driver.DeadLetter, error) {
	return b.broker.DeadLetters(ctx)
}

// Close stops the broker (blocked Receive calls return
// driver.ErrBrokerClosed), ends every event subscription, and closes the
// connection if Connect opened it. Stop workers and shut engines down
// before closing their backend. Run state stays in JetStream.
func (b *Backend) Close() error {
	_ = b.maxSub.Unsubscribe()
	b.store.pending.Wait()
	err := b.broker.Close()
	err = errors.Join(err, b.bus.Close())
	if b.ownNC {
		_ = b.nc.FlushTimeout(2 * time.Second) // events published last
		b.nc.Close()
	}
	return err
}

// failExhausted fails the run of an execution whose deliveries are
// exhausted, so that it does not wait for a task that will never run.
func (b *Backend) failExhausted(msg driver.TaskMessage, deliveries int, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var evs []driver.Event
	err := b.store.Update(ctx, msg.RunID, func(rec *driver.RunRecord) error {
		evs = evs[:0]
		if rec.Status.Terminal() {
			return driver.ErrNoChange
		}
		now := time.Now()
		what := fmt.Sprintf("task %q", msg.Task)
		if msg.Index >= 0 {
			what += fmt.Sprintf(" element %d", msg.Index)
		}
		text := reason
		for k := range rec.Tasks {
			tr := &rec.Tasks[k]
			if tr.Name == msg.Task {
				if tr.Error != "" {
					text = reason + ": " + tr.Error
				}
				tr.Status, tr.Error, tr.FinishedAt = driver.TaskFailed, text, now
				tr.Attempts = max(tr.Attempts, deliveries)
				evs = append(evs, driver.Event{Type: driver.EventTaskFailed, RunID: rec.ID, PipelineID: rec.PipelineID, Task: msg.Task, Index: msg.Index, Attempt: deliveries, Error: text, Time: now})
			} else if !tr.Status.Terminal() {
				tr.Status, tr.FinishedAt = driver.TaskCancelled, now
			}
		}
		rec.Status, rec.FinishedAt = driver.RunFailed, now
		rec.Error = what + " failed: " + text
		if rec.StartedAt.IsZero() {
			rec.StartedAt = now
		}
		evs = append(evs, driver.Event{Type: driver.EventRunFailed, RunID: rec.ID, PipelineID: rec.PipelineID, Index: -1, Error: rec.Error, Time: now})
		return nil
	})
	if err != nil {
		if !errors.Is(err, driver.ErrRunNotFound) {
			b.opts.Logger.Error("taskwire: fail run of dead-lettered task", "run_id", msg.RunID, "task", msg.Task, "err", err)
		}
		return
	}
	for _, ev := range evs {
		if err := b.bus.Publish(ctx, ev); err != nil {
			b.opts.Logger.Error("taskwire: publish event", "type", ev.Type, "run_id", ev.RunID, "err", err)
		}
	}
}

// Redact hides the password of a NATS URL (or comma-separated URLs), for
// logs and banners.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
