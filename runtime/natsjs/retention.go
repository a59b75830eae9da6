// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// What the store does for the engine's operations beyond runs going
// forward: retention deletes finished runs, and a requeue marks a finished
// run unfinished again.

var (
	_ driver.FinishedDeleter = (*Store)(nil)
	_ driver.ReopenNotifier  = (*Store)(nil)
)

// DeleteFinished implements driver.FinishedDeleter: the run's record (and
// its idempotency key) are purged if the run has finished and nobody wrote
// it since it was read. Its entry in the run index stays, a few bytes that
// List skips.
func (s *Store) DeleteFinished(ctx context.Context, id string) error {
	rec, rev, err := s.load(ctx, id)
	if errors.Is(err, driver.ErrRunNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.Status.Terminal() {
		return nil
	}
	err = s.remove(ctx, runKey(id), jetstream.LastRevision(rev))
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists),
		apiErrorCode(err) == jetstream.JSErrCodeStreamWrongLastSequence, apiErrorCode(err) == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		return nil // written since (a requeue): not ours to delete now
	default:
		return fmt.Errorf("natsjs: delete run %s: %w", id, err)
	}
	s.revs.forget(id)
	s.vals.deleteRun(ctx, rec)
	if rec.IdempotencyKey != "" {
		if err := s.remove(ctx, idemKey(rec.PipelineID, rec.IdempotencyKey)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn("taskwire: remove the idempotency key of a deleted run", "run_id", id, "err", err)
		}
	}
	return nil
}

// Reopened implements driver.ReopenNotifier: the run's active marker is
// written again, so that Unfinished (an engine's Resume) finds it.
func (s *Store) Reopened(ctx context.Context, id string) error {
	if _, err := s.kv.Put(ctx, activeKey(id), nil); err != nil {
		return fmt.Errorf("natsjs: mark run %s unfinished: %w", id, err)
	}
	return nil
}
