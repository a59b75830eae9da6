// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// The active markers of runs, which Unfinished lists, are group-committed:
// the runs a process creates while a marker write is in flight share the
// next write, one key marks.<process>-<n> of the runs bucket whose value
// lists their IDs. The process removes the key once it has seen every one
// of those runs end (it ended them itself, or their run-ended events came,
// which the engine passes on through Forget). A batch whose end the process
// never sees (it stopped, or events were lost) is retired by Unfinished,
// in any process, once every run it lists has ended. So a run costs no
// marker write and no marker removal of its own: under load a batch holds
// as many runs as were created during one write.
//
// Per-run keys active.<id> are still read: a requeue reopening a finished
// run writes one, and stores written before the batches hold them.

// markGrace is how long a batch may list a run whose record does not exist
// before Unfinished takes that run's creation for dead. A Create writes its
// record right after its marker, in one JetStream request; a run listed
// longer ago without a record was never created. Tests shorten it.
var markGrace = 5 * time.Minute

// maxMarkBatch bounds the runs of one marker batch, and so its value's
// size.
const maxMarkBatch = 1024

// marks is a Store's group commit of active markers and its count of the
// runs of its batches that have not ended.
type marks struct {
	mu     sync.Mutex
	prefix string        // unique to this Store
	seq    uint64        // batches made so far
	next   *markBatch    // the batch runs join now; nil when none collects
	turn   chan struct{} // held by the one batch being written
	open   map[string]*markBatch
}

// markBatch is one marker write and the runs it marks.
type markBatch struct {
	key     string
	ids     []string
	left    int  // runs of the batch not seen end (or whose create failed)
	written bool // the key is stored: it is removed when left is 0
	done    chan struct{}
	err     error
}

func (m *marks) init() {
	m.prefix = nuid.Next()
	m.turn = make(chan struct{}, 1)
	m.open = make(map[string]*markBatch)
}

// mark stores the active marker of run id: it joins the batch collecting
// runs, and returns when that batch is stored. The first run of a batch
// writes it, once the write before it has finished; the runs that join
// meanwhile ride along. The write does not end with any one caller's ctx
// (the others wait for it), only with the JetStream request timeout.
func (s *Store) mark(ctx context.Context, id string) error {
	m := &s.marks
	m.mu.Lock()
	if _, ok := m.open[id]; ok { // marked already (a create of an ID in use, which fails)
		m.mu.Unlock()
		return nil
	}
	b := m.next
	lead := b == nil
	if lead {
		m.seq++
		b = &markBatch{key: "marks." + m.prefix + "-" + strconv.FormatUint(m.seq, 36), done: make(chan struct{})}
		m.next = b
	}
	b.ids = append(b.ids, id)
	b.left++
	if len(b.ids) == maxMarkBatch {
		m.next = nil // full: the next run starts another
	}
	m.open[id] = b
	m.mu.Unlock()
	if !lead {
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			s.markEnded(id) // no run follows: the batch need not wait for it
			return ctx.Err()
		}
	}
	m.turn <- struct{}{}
	m.mu.Lock()
	if m.next == b {
		m.next = nil // sealed: later runs start the next batch
	}
	ids := b.ids
	m.mu.Unlock()
	value, _ := json.Marshal(ids)
	_, err := s.kv.Put(context.WithoutCancel(ctx), b.key, value)
	<-m.turn
	m.mu.Lock()
	b.err, b.written = err, err == nil
	if err != nil {
		for _, id := range ids {
			if m.open[id] == b {
				delete(m.open, id)
			}
		}
	}
	left := b.left
	m.mu.Unlock()
	close(b.done)
	if err == nil && left == 0 { // every run of it gave up waiting
		s.removeBatch(b.key)
	}
	return err
}

// markEnded notes that run id, of one of this Store's batches, has ended
// (or will not be created after all), and removes its batch's key when it
// was the batch's last run.
func (s *Store) markEnded(id string) {
	m := &s.marks
	m.mu.Lock()
	b, ok := m.open[id]
	if !ok {
		m.mu.Unlock()
		return
	}
	delete(m.open, id)
	b.left--
	last := b.left == 0 && b.written
	m.mu.Unlock()
	if last {
		s.removeBatch(b.key)
	}
}

// removeBatch removes a batch's key in the background: it is best effort
// (Unfinished retires a batch whose runs have all ended), so the end of
// the batch's last run does not wait for it.
func (s *Store) removeBatch(key string) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.remove(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn("taskwire: remove the active markers of ended runs", "key", key, "err", err)
		}
	}()
}

// unfinishedOf returns the runs of the batch stored under key that have not
// ended, and removes the key when none is left (forgetting the batch if
// this Store made it). A run without a record counts as a create in flight
// until the batch is markGrace old.
func (s *Store) unfinishedOf(ctx context.Context, key string) ([]string, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(e.Value(), &ids); err != nil {
		s.log.Warn("taskwire: active markers that do not decode; removing them", "key", key, "err", err)
		return nil, s.remove(ctx, key)
	}
	young := time.Since(e.Created()) < markGrace
	var unfinished []string
	keep := false
	for _, id := range ids {
		ended, found, err := s.ended(ctx, id)
		switch {
		case err != nil:
			return nil, err
		case !found:
			keep = keep || young // a create in flight, or one that died before writing its run
		case !ended:
			unfinished = append(unfinished, id)
		}
	}
	if len(unfinished) > 0 || keep {
		return unfinished, nil
	}
	if err := s.remove(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, err
	}
	s.marks.retire(key, ids)
	return nil, nil
}

// retire forgets a batch that Unfinished removed.
func (m *marks) retire(key string, ids []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if b := m.open[id]; b != nil && b.key == key {
			delete(m.open, id)
		}
	}
}

// isBatchKey reports whether a key of the runs bucket is a marker batch.
func isBatchKey(k string) bool { return strings.HasPrefix(k, "marks.") }
