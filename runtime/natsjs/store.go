// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// idemGrace is how long an idempotency claim may point to a run that does
// not exist yet (its creator is between the claim and the run's write)
// before another Create takes the claim over.
const idemGrace = 10 * time.Second

// Store is a driver.Store on JetStream: a KV bucket holds each run's
// record as JSON under run.<id>, keys marks.<batch> list the runs that may
// not have ended (see marks.go), and idem.<sha256(pipeline, key)> maps an
// idempotency key to its run.
// A stream records creation order for List. Values larger than a record
// should hold, up to Options.MaxValueSize, and the element outputs of map
// tasks are kept out of the record, in an object store and a KV bucket of
// their own (see values.go), so that every value works as in memory and a
// record's size does not grow with a map's list. Create it through a
// Backend.
type Store struct {
	js           jetstream.JetStream
	nc           *nats.Conn
	vals         *values
	kv           jetstream.KeyValue
	markerTTL    time.Duration // how long a removed key's marker stays; 0: for good
	index        jetstream.Stream
	indexSubject string
	log          *slog.Logger
	revs         revCache
	turns        turns
	marks        marks
	finals       finals
	pending      sync.WaitGroup // background marker deletions
}

// turns makes the updates of one run in this process take turns.
type turns struct {
	mu sync.Mutex
	m  map[string]*turn
}

type turn struct {
	sync.Mutex
	waiters int
}

// take waits for the run's turn and returns the function that ends it.
func (t *turns) take(id string) (done func()) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]*turn)
	}
	tn := t.m[id]
	if tn == nil {
		tn = &turn{}
		t.m[id] = tn
	}
	tn.waiters++
	t.mu.Unlock()
	tn.Lock()
	return func() {
		tn.Unlock()
		t.mu.Lock()
		if tn.waiters--; tn.waiters == 0 {
			delete(t.m, id)
		}
		t.mu.Unlock()
	}
}

// revCache remembers the last record this process read or wrote of each
// run it updates, with its revision, so that an update can compare-and-swap
// from it without reading the record first (a round trip saved per update,
// two per task). A stale entry only costs a failed swap and a read.
type revCache struct {
	mu sync.Mutex
	m  map[string]revEntry
	// ended holds runs known to have ended (a ring of the latest
	// maxRevCache): a record a task message carries of one of them is not
	// remembered, so that its next task reads the record and sees the end.
	ended     map[string]struct{}
	endedRing []string
	endedNext int
}

type revEntry struct {
	data []byte
	rev  uint64
	// rec, when set, is data decoded and unchanged: an update that only
	// looked leaves it for the next one, which then need not decode data
	// again (the start of a task and its end are two updates of one
	// revision). It is taken by the update that uses it.
	rec *driver.RunRecord
}

// maxRevCache bounds revCache: runs in flight in one process.
const maxRevCache = 4096

func (c *revCache) get(id string) (revEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	return e, ok
}

// take returns the entry of id, and takes its decoded record from it.
func (c *revCache) take(id string) (revEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	if ok && e.rec != nil {
		c.m[id] = revEntry{data: e.data, rev: e.rev}
	}
	c.mu.Unlock()
	return e, ok
}

// keep leaves rec, the record of id at rev decoded and unchanged, for the
// next update, if the entry is still at rev.
func (c *revCache) keep(id string, rev uint64, rec *driver.RunRecord) {
	c.mu.Lock()
	if e, ok := c.m[id]; ok && e.rev == rev {
		e.rec = rec
		c.m[id] = e
	}
	c.mu.Unlock()
}

func (c *revCache) put(id string, data []byte, rev uint64) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]revEntry)
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxRevCache {
		for k := range c.m { // any entry: an evicted one only costs a read
			delete(c.m, k)
			break
		}
	}
	c.m[id] = revEntry{data: data, rev: rev}
	c.mu.Unlock()
}

// offer remembers data at rev unless a newer revision is remembered or
// the run is known to have ended: a record carried by a task message may be
// older than this process's.
func (c *revCache) offer(id string, data []byte, rev uint64) {
	c.mu.Lock()
	e, ok := c.m[id]
	_, ended := c.ended[id]
	c.mu.Unlock()
	if ended || (ok && e.rev >= rev) {
		return
	}
	c.put(id, data, rev)
}

func (c *revCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// end forgets the run and refuses records of it offered later.
func (c *revCache) end(id string) {
	c.mu.Lock()
	delete(c.m, id)
	if c.ended == nil {
		c.ended, c.endedRing = make(map[string]struct{}), make([]string, maxRevCache)
	}
	if _, ok := c.ended[id]; !ok {
		if old := c.endedRing[c.endedNext]; old != "" {
			delete(c.ended, old)
		}
		c.endedRing[c.endedNext] = id
		c.endedNext = (c.endedNext + 1) % len(c.endedRing)
		c.ended[id] = struct{}{}
	}
	c.mu.Unlock()
}

var (
	_ driver.Store     = (*Store)(nil)
	_ driver.Forgetter = (*Store)(nil)
	_ driver.EndReader = (*Store)(nil)
)

// Forget implements driver.Forgetter.
// It also counts the run's end for its active markers' batch.
func (s *Store) Forget(runID string) {
	s.revs.end(runID)
	s.markEnded(runID)
}

// indexEntry is one message of the run-index stream.
type indexEntry struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
}

func runKey(id string) string    { return "run." + token(id) }
func activeKey(id string) string { return "active." + token(id) }
func idemKey(pipelineID, key string) string {
	h := sha256.Sum256([]byte(pipelineID + "\x00" + key))
	return "idem." + hex.EncodeToString(h[:])
}

// Create implements driver.Store. With an idempotency key it first claims
// the key with a KV Create (which fails if the key exists), so that of two
// concurrent starts with one key exactly one creates a run.
func (s *Store) Create(ctx context.Context, rec *driver.RunRecord) (*driver.Run, bool, error) {
	if rec == nil || rec.ID == "" {
		return nil, false, errors.New("natsjs: create: record without ID")
	}
	data, err := s.encodeRecord(ctx, rec, nil)
	if driver.Deterministic(err) {
		return nil, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("natsjs: create run %s: %w", rec.ID, err)
	}
	if rec.IdempotencyKey != "" {
		existing, err := s.claim(ctx, idemKey(rec.PipelineID, rec.IdempotencyKey), rec.ID)
		if err != nil {
			return nil, false, err
		}
		if existing != nil {
			return existing, false, nil
		}
	}
	// Creation order first, then the active marker, then the run: a crash in
	// between leaves an index entry or marker without a run, which List and
	// Unfinished skip, never a run that they miss.
	entry, _ := json.Marshal(indexEntry{ID: rec.ID, PipelineID: rec.PipelineID})
	if _, err := s.js.Publish(ctx, s.indexSubject, entry); err != nil {
		return nil, false, fmt.Errorf("natsjs: create run %s: index: %w", rec.ID, err)
	}
	if !rec.Status.Terminal() {
		if err := s.mark(ctx, rec.ID); err != nil {
			return nil, false, fmt.Errorf("natsjs: create run %s: active marker: %w", rec.ID, err)
		}
	}
	rev, err := s.kv.Create(ctx, runKey(rec.ID), data)
	if err != nil {
		// Only a refusal says that the record was not stored: after a
		// timeout it may have been, and a retry with the run's idempotency
		// key gets that run without starting it, so its marker must stay
		// for the reconciler to carry it forward. A payload too large was
		// never sent.
		if errors.Is(err, jetstream.ErrKeyExists) { // that run keeps its marker
			return nil, false, fmt.Errorf("natsjs: create: run %q already exists", rec.ID)
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			s.markEnded(rec.ID)
		}
		return nil, false, fmt.Errorf("natsjs: create run %s: %w", rec.ID, payloadError(err))
	}
	if !rec.Status.Terminal() {
		s.revs.put(rec.ID, data, rev) // its first task messages carry it
	}
	return rec.View(), true, nil
}

// claim makes key point to runID, or returns the run it already points to.
func (s *Store) claim(ctx context.Context, key, runID string) (*driver.Run, error) {
	for {
		_, err := s.kv.Create(ctx, key, []byte(runID))
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("natsjs: idempotency key: %w", err)
		}
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile: claim it
		}
		if err != nil {
			return nil, fmt.Errorf("natsjs: idempotency key: %w", err)
		}
		r, err := s.Get(ctx, string(e.Value()))
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, driver.ErrRunNotFound) {
			return nil, err
		}
		if time.Since(e.Created()) > idemGrace { // its creator died before writing the run
			if _, err := s.kv.Update(ctx, key, []byte(runID), e.Revision()); err == nil {
				return nil, nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// load reads a run's record and its revision.
func (s *Store) load(ctx context.Context, id string) (*driver.RunRecord, uint64, error) {
	data, rev, err := s.read(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	rec, err := s.decodeRecord(id, data)
	return rec, rev, err
}

// read reads a run's record as stored, and its revision.
func (s *Store) read(ctx context.Context, id string) ([]byte, uint64, error) {
	e, err := s.kv.Get(ctx, runKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %q", driver.ErrRunNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("natsjs: get run %s: %w", id, err)
	}
	return e.Value(), e.Revision(), nil
}

// payloadError marks the server's refusal of a message over its max
// payload as an error no retry fixes.
func payloadError(err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %w", driver.ErrValueTooLarge, err)
	}
	return err
}

// Get implements driver.Store. The outputs of a succeeded run are read in
// full, those kept out of its record included.
func (s *Store) Get(ctx context.Context, id string) (*driver.Run, error) {
	rec, _, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, rec)
}

// view returns the run of rec, its outputs read in full.
func (s *Store) view(ctx context.Context, rec *driver.RunRecord) (*driver.Run, error) {
	r := rec.View()
	if err := resolve(ctx, r.Outputs); err != nil {
		return nil, fmt.Errorf("natsjs: outputs of run %s: %w", rec.ID, err)
	}
	return r, nil
}

// End implements driver.EndReader from the record that came with the
// run's run-ended event, if one did (see finals.go).
func (s *Store) End(ctx context.Context, id string, since time.Time) (*driver.Run, bool, error) {
	data, ok := s.finals.take(id, time.Now())
	if !ok {
		return nil, false, nil
	}
	rec, err := s.decodeRecord(id, data)
	if err != nil || !rec.Status.Terminal() || rec.FinishedAt.Before(since) {
		return nil, false, nil // not a record this Store wrote, or an earlier end: read it
	}
	r, err := s.view(ctx, rec)
	return r, err == nil, err
}

// Record returns the complete record of a run, for tools and tests. Its
// values kept out of line are deferred (driver.Load reads them).
func (s *Store) Record(ctx context.Context, id string) (*driver.RunRecord, error) {
	rec, _, err := s.load(ctx, id)
	return rec, err
}

// Update implements driver.Store by compare-and-swap: read the record and
// its revision, apply fn, and write it back only if the key is still at
// that revision (KV Update); on a conflict, start again with the fresh
// record. This is what makes fan-in safe across processes: of two workers
// completing a task's last two inputs, exactly one sees both outputs.
//
// Updates of one run made by this process take turns (they would only
// fail each other's swaps: the elements of a map task complete together),
// so that only another process's write makes a swap fail.
func (s *Store) Update(ctx context.Context, id string, fn func(*driver.RunRecord) error) error {
	defer s.turns.take(id)()
	// A remembered record is a guess: a write from it is checked by the
	// swap, but a decision to write nothing (or to fail) is only taken on a
	// record just read, unless fn says it holds on any revision.
	cached, guess := s.revs.take(id)
	var kept map[string]bool // element outputs written by an earlier try
	for {
		data, rev, rec := cached.data, cached.rev, cached.rec
		if !guess {
			var err error
			if data, rev, err = s.read(ctx, id); err != nil {
				s.revs.forget(id)
				return err
			}
			rec = nil
		}
		if rec == nil {
			var err error
			if rec, err = s.decodeRecord(id, data); err != nil {
				s.revs.forget(id)
				if guess { // not the record as stored: read it
					guess = false
					continue
				}
				return err
			}
			if !guess {
				s.revs.put(id, data, rev) // only records that decode are remembered
			}
		}
		was := rec.Status.Terminal()
		if err := fn(rec); err != nil {
			if guess && errors.Is(err, driver.ErrNoChangeAnyRevision) {
				// The write that follows swaps from this revision, and
				// starts from this record, which fn only looked at.
				s.revs.keep(id, rev, rec)
				return nil
			}
			if guess {
				guess = false
				continue
			}
			if errors.Is(err, driver.ErrNoChange) {
				return nil
			}
			return err
		}
		if kept == nil && hasFresh(rec) {
			kept = make(map[string]bool)
		}
		out, err := s.encodeRecord(ctx, rec, kept)
		if driver.Deterministic(err) {
			return err // says what cannot be kept, and why
		} else if err != nil {
			return fmt.Errorf("natsjs: update run %s: %w", id, err)
		}
		newRev, err := s.kv.Update(ctx, runKey(id), out, rev)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || apiErrorCode(err) == jetstream.JSErrCodeStreamWrongLastSequence {
				guess = false // someone else changed it: read and apply fn again
				continue
			}
			s.revs.forget(id)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("%w: %q", driver.ErrRunNotFound, id)
			}
			return fmt.Errorf("natsjs: update run %s: %w", id, payloadError(err))
		}
		if rec.Status.Terminal() {
			s.revs.end(id)
			if !was {
				s.markEnded(id)
				s.finals.stored(id, out) // for its run-ended event
			}
			return nil
		}
		s.revs.put(id, out, newRev)
		return nil
	}
}

// markerTTL is how long the marker that a removed key of the runs bucket
// leaves in its stream stays there. Without a TTL (servers before 2.11)
// every run that ever ended would leave one (its active marker's), which
// the stream keeps and Unfinished reads on every reconciliation. Tests
// shorten it.
var markerTTL = time.Minute

// remove removes key from the runs bucket, its marker removed in turn
// after markerTTL; opts may add a revision the key must be at.
func (s *Store) remove(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if s.markerTTL > 0 {
		opts = append(opts, jetstream.PurgeTTL(s.markerTTL))
	}
	return s.kv.Purge(ctx, key, opts...)
}

// apiErrorCode returns the JetStream error code of err, or 0.
func apiErrorCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// List implements driver.Store: it walks the run-index stream backwards
// from the newest entry (or from the cursor), reading each run from the KV
// bucket. The cursor is the index sequence of the last run returned. It
// costs a stream read per run examined and a KV read per run of the right
// pipeline, so a selective status filter over many runs is slow.
func (s *Store) List(ctx context.Context, opts driver.ListOptions) (driver.RunPage, error) {
	if opts.Status != "" && !opts.Status.Valid() {
		return driver.RunPage{}, fmt.Errorf("natsjs: list: unknown status %q", opts.Status)
	}
	limit := opts.Limit
	switch {
	case limit <= 0:
		limit = driver.DefaultListLimit
	case limit > driver.MaxListLimit:
		limit = driver.MaxListLimit
	}
	info, err := s.index.Info(ctx)
	if err != nil {
		return driver.RunPage{}, fmt.Errorf("natsjs: list: %w", err)
	}
	seq, first := info.State.LastSeq, info.State.FirstSeq
	if opts.Cursor != "" {
		c, err := driver.DecodeCursor("j", opts.Cursor)
		if err != nil {
			return driver.RunPage{}, err
		}
		seq = min(seq, c-1)
	}
	page := driver.RunPage{Runs: []*driver.Run{}}
	var last uint64
	for ; seq >= first && seq > 0; seq-- {
		m, err := s.index.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return driver.RunPage{}, fmt.Errorf("natsjs: list: %w", err)
		}
		var e indexEntry
		if json.Unmarshal(m.Data, &e) != nil || (opts.PipelineID != "" && e.PipelineID != opts.PipelineID) {
			continue
		}
		r, err := s.Get(ctx, e.ID)
		if errors.Is(err, driver.ErrRunNotFound) {
			continue
		}
		if err != nil {
			return driver.RunPage{}, err
		}
		if opts.Status != "" && r.Status != opts.Status {
			continue
		}
		if len(page.Runs) == limit { // one more match exists beyond this page
			page.NextCursor = driver.EncodeCursor("j", last)
			break
		}
		page.Runs = append(page.Runs, r)
		last = seq
	}
	return page, nil
}

// Unfinished implements driver.Store from the marker batches and the
// active.<id> markers, removing those of runs that have ended.
func (s *Store) Unfinished(ctx context.Context) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "marks.>", "active.>")
	if err != nil {
		return nil, fmt.Errorf("natsjs: unfinished: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var ids []string
	for _, k := range keys {
		if isBatchKey(k) {
			batch, err := s.unfinishedOf(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("natsjs: unfinished: %w", err)
			}
			ids = append(ids, batch...)
			continue
		}
		id, err := untoken(strings.TrimPrefix(k, "active."))
		if err != nil {
			continue
		}
		ended, found, err := s.ended(ctx, id)
		switch {
		case err != nil:
			return nil, err
		case !found:
			// a Create in flight, or one that died before writing its run
		case ended:
			_ = s.remove(ctx, k)
		default:
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil // a reopened run is in a batch too
}

// ended reports whether run id has ended, and whether it has a record at
// all (found false, with no error, when it has none).
func (s *Store) ended(ctx context.Context, id string) (ended, found bool, err error) {
	rec, _, err := s.load(ctx, id)
	if errors.Is(err, driver.ErrRunNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return rec.Status.Terminal(), true, nil
}

// untoken reverses token.
func untoken(t string) (string, error) {
	if !strings.HasPrefix(t, "=") {
		return t, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t[1:])
	return string(b), err
}
