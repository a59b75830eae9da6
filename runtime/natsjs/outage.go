// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// DefaultOutageRetry is how long a run's state write is retried through a
// broker outage by default (Options.OutageRetry).
const DefaultOutageRetry = 30 * time.Second

// outageStore is the Store the runtime is given: its Update, a
// compare-and-swap that is safe to repeat, is retried with backoff while
// the server is unreachable or has no JetStream leader (a restart, a
// failover), for up to the bound, instead of failing the transition. The
// other methods are the Store's; reads fail at once, for the caller to
// retry.
type outageStore struct {
	*Store
	bound time.Duration
}

// Update implements driver.Store; an outage that outlasts the bound is
// an error wrapping driver.ErrUnavailable.
func (s outageStore) Update(ctx context.Context, id string, fn func(*driver.RunRecord) error) error {
	return unavailable(ctx, ridingOut(ctx, s.bound, s.log, "update run "+id, func() error { return s.Store.Update(ctx, id, fn) }))
}

// Create implements driver.Store. It is not retried (a create whose answer
// was lost may have been stored, and its retry would find it and not
// start it); an outage is an error wrapping driver.ErrUnavailable, for the
// caller to retry (the HTTP API answers 503 with Retry-After).
func (s outageStore) Create(ctx context.Context, rec *driver.RunRecord) (*driver.Run, bool, error) {
	run, created, err := s.Store.Create(ctx, rec)
	return run, created, unavailable(ctx, err)
}

// unavailable wraps an outage error with driver.ErrUnavailable.
func unavailable(ctx context.Context, err error) error {
	if err != nil && outage(ctx, err) && !errors.Is(err, driver.ErrUnavailable) {
		return fmt.Errorf("%w: %w", driver.ErrUnavailable, err)
	}
	return err
}

// ridingOut calls op until it succeeds, fails for another reason than an
// outage, ctx ends, or bound has passed, waiting 50ms, then twice as long
// each time up to 2s, in between (driver.Retry).
func ridingOut(ctx context.Context, bound time.Duration, log interface {
	Warn(string, ...any)
}, what string, op func() error) error {
	return driver.Retry(ctx, bound, 50*time.Millisecond,
		func(err error) bool { return outage(ctx, err) },
		func(wait time.Duration, err error) {
			log.Warn("taskwire: broker unavailable; retrying", "op", what, "in", wait, "err", err)
		}, op)
}

// outage reports whether err says the server could not be reached or
// could not answer for now, rather than that the request was wrong: a
// reconnect, a timeout of the request itself (not of ctx), no responders,
// or JetStream without a leader.
func outage(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}
