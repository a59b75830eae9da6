// SPDX-License-Identifier: Apache-2.0

package driver

import "context"

// FinishedDeleter is implemented by stores that can delete finished runs,
// for retention (MemoryStore and the JetStream store do).
type FinishedDeleter interface {
	// DeleteFinished deletes the run if it has finished (succeeded, failed
	// or cancelled). A run still going, or one that is not there, is left
	// alone without an error.
	DeleteFinished(ctx context.Context, runID string) error
}

// ReopenNotifier is implemented by stores that keep track of unfinished
// runs apart from their records (the JetStream store's active markers):
// the engine tells it when a run that had finished goes on again (a dead
// letter requeued), so that Unfinished finds it again.
type ReopenNotifier interface {
	// Reopened records that the run is unfinished again.
	Reopened(ctx context.Context, runID string) error
}

var _ FinishedDeleter = (*MemoryStore)(nil)

// DeleteFinished implements FinishedDeleter.
func (s *MemoryStore) DeleteFinished(ctx context.Context, runID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.runs[runID]
	if !ok {
		return nil
	}
	e.mu.Lock()
	finished := e.rec.Status.Terminal()
	e.mu.Unlock()
	if finished {
		s.evictLocked(e) // its place in finished is skipped once gone
	}
	return nil
}
