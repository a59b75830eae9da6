// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// The dead letters of the bucket PREFIX_DEAD, one key per execution, as a
// driver.DeadLetterStore: listed newest first by the revision of their
// last write, which is also their cursor.

var _ driver.DeadLetterStore = (*Broker)(nil)

// deadEntry is a dead letter with the bucket revision it was read at.
type deadEntry struct {
	dl  driver.DeadLetter
	rev uint64
}

func (b *Broker) deadEntries(ctx context.Context) ([]deadEntry, error) {
	lister, err := b.dead.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsjs: dead letters: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	out := make([]deadEntry, 0, len(keys))
	for _, k := range keys {
		e, err := b.dead.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // requeued meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("natsjs: dead letter %s: %w", k, err)
		}
		if dl, ok := decodeDead(e.Value()); ok {
			out = append(out, deadEntry{dl: dl, rev: e.Revision()})
		}
	}
	return out, nil
}

// decodeDead decodes a dead-letter record, filling the ID of records
// written before dead letters had one.
func decodeDead(data []byte) (driver.DeadLetter, bool) {
	var dl driver.DeadLetter
	if json.Unmarshal(data, &dl) != nil || dl.RunID == "" || dl.Task == "" {
		return dl, false
	}
	if dl.ID == "" {
		dl.ID = driver.DeadLetterID(dl.RunID, dl.Task, dl.Index)
	}
	return dl, true
}

// ListDeadLetters implements driver.DeadLetterStore. It reads the whole
// bucket: dead letters are expected to be few, and are removed when
// requeued.
func (b *Broker) ListDeadLetters(ctx context.Context, opts driver.DeadLetterListOptions) (driver.DeadLetterPage, error) {
	es, err := b.deadEntries(ctx)
	if err != nil {
		return driver.DeadLetterPage{}, err
	}
	slices.SortFunc(es, func(x, y deadEntry) int { return -compareUint(x.rev, y.rev) })
	dls, seqs := make([]driver.DeadLetter, len(es)), make([]uint64, len(es))
	for i, e := range es {
		dls[i], seqs[i] = e.dl, e.rev
	}
	return opts.Page("jd", dls, seqs)
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// deadKeyOf returns the bucket key of a dead-letter ID.
func deadKeyOf(id string) (string, error) {
	run, task, index, err := driver.ParseDeadLetterID(id)
	if err != nil {
		return "", err
	}
	return deadKey(driver.TaskMessage{RunID: run, Task: task, Index: index}), nil
}

// GetDeadLetter implements driver.DeadLetterStore.
func (b *Broker) GetDeadLetter(ctx context.Context, id string) (driver.DeadLetter, error) {
	key, err := deadKeyOf(id)
	if err != nil {
		return driver.DeadLetter{}, err
	}
	e, err := b.dead.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return driver.DeadLetter{}, fmt.Errorf("%w: %q", driver.ErrDeadLetterNotFound, id)
	}
	if err != nil {
		return driver.DeadLetter{}, fmt.Errorf("natsjs: dead letter %s: %w", id, err)
	}
	dl, ok := decodeDead(e.Value())
	if !ok {
		return driver.DeadLetter{}, fmt.Errorf("natsjs: dead letter %s: malformed record", id)
	}
	return dl, nil
}

// DeleteDeadLetter implements driver.DeadLetterStore.
func (b *Broker) DeleteDeadLetter(ctx context.Context, id string) error {
	key, err := deadKeyOf(id)
	if err != nil {
		return nil // not an ID of ours: nothing to remove
	}
	// Purge, not Delete: earlier revisions of the key go too.
	if err := b.dead.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("natsjs: remove dead letter %s: %w", id, err)
	}
	return nil
}
