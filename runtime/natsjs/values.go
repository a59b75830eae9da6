// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// How values are kept. A value whose JSON is at most inlineMax bytes is
// written in its run's record; a larger one is an object of the values
// bucket (PREFIX_VALUES, a JetStream object store, which splits it into
// chunks below the server's max payload), named by its run and the SHA-256
// of its JSON, and the record holds a reference to it. When a record's
// inline values add up to more than inlineBudget, the largest go to the
// bucket as well, so that a record stays small whatever a run holds: every
// transition reads and writes it whole.
//
// A map task's element outputs are keys of the elements bucket
// (PREFIX_ELEMENTS, KV), one per element, written once, before the record
// that marks the element done: the record holds only which elements are
// done, and the task's output is a reference to its elements. Both
// buckets live as long as the runs do.
const (
	inlineMax    = 4 << 10
	inlineBudget = 64 << 10
	// elementRef starts an element key's value that names an object of the
	// values bucket instead of holding the element's JSON (which never
	// starts with '@').
	elementRef = '@'
	// loadTimeout bounds a fetch made without a deadline of its own.
	loadTimeout = 30 * time.Second
	// cacheBytes bounds the values a process keeps after reading or
	// writing them. Values are immutable, so a cached one is never stale;
	// a list in the cache is split into its elements once, whatever number
	// of elements its map tasks read.
	cacheBytes = 128 << 20
)

// valueRef is a record's reference to a value kept out of it: an object of
// the values bucket, or the element outputs of one of the run's map tasks.
type valueRef struct {
	// Object names the object of the values bucket.
	Object string `json:"object,omitempty"`
	// Elements names the map task whose Len element outputs make the list.
	Elements string `json:"elements,omitempty"`
	// Size is the length of the value's JSON (for an object).
	Size int64 `json:"size,omitempty"`
	// Len is the number of elements of a list, or -1.
	Len int `json:"len"`
}

// values keeps the values of runs out of their records.
type values struct {
	obj   jetstream.ObjectStore
	elems jetstream.KeyValue
	max   int64
	log   *slog.Logger
	cache valueCache
}

// tooLarge is the error of a value over the limit.
func (vs *values) tooLarge(what string, n int) error {
	return fmt.Errorf("%s is %d bytes of JSON, over the limit of %d bytes (%s) of a value on JetStream (natsjs Options.MaxValueSize): %w",
		what, n, vs.max, sizeText(vs.max), driver.ErrValueTooLarge)
}

// sizeText writes n bytes for people: 700 B, 2.0 MiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// encode returns how the record of run runID keeps its value name: its
// JSON to write inline, or a reference. A value over inlineMax is written
// to the values bucket first.
func (vs *values) encode(ctx context.Context, runID, name string, v driver.Value) (json.RawMessage, *valueRef, error) {
	if r, ok := v.Ref(); ok {
		ref, ok := r.(valueRef)
		if !ok {
			return nil, nil, fmt.Errorf("value %q: a reference of another store: %w", name, driver.ErrEncode)
		}
		return nil, &ref, nil
	}
	if task, n, ok := v.ElementList(); ok {
		return nil, &valueRef{Elements: task, Len: n}, nil
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("value %q: %v: %w", name, err, driver.ErrEncode)
	}
	if int64(len(b)) > vs.max {
		return nil, nil, vs.tooLarge(fmt.Sprintf("value %q", name), len(b))
	}
	if len(b) <= inlineMax {
		return b, nil, nil
	}
	ref, err := vs.put(ctx, runID, b, v)
	return nil, ref, err
}

// put writes the JSON b of v to the values bucket, unless it is there
// already (the name says what it holds), and returns its reference.
func (vs *values) put(ctx context.Context, runID string, b []byte, v driver.Value) (*valueRef, error) {
	sum := sha256.Sum256(b)
	name := token(runID) + "/" + hex.EncodeToString(sum[:])
	n, err := v.Len()
	if err != nil {
		n = -1
	}
	ref := &valueRef{Object: name, Size: int64(len(b)), Len: n}
	if _, ok := vs.cache.get(name); ok {
		return ref, nil // written or read by this process: it is there
	}
	if _, err := vs.obj.GetInfo(ctx, name); err == nil {
		vs.cache.add(name, driver.RawJSON(b), len(b))
		return ref, nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("natsjs: value of run %s: %w", runID, err)
	}
	if _, err := vs.obj.PutBytes(ctx, name, b); err != nil {
		return nil, fmt.Errorf("natsjs: write value of run %s (%s): %w", runID, sizeText(int64(len(b))), err)
	}
	vs.cache.add(name, driver.RawJSON(b), len(b))
	return ref, nil
}

// elementKey is the key of an element output in the elements bucket.
func elementKey(runID, task string, index int) string {
	return elementPrefix(runID, task) + strconv.Itoa(index)
}

func elementPrefix(runID, task string) string { return token(runID) + "." + token(task) + "." }

// putElement keeps the output of element e of the run's task, unless an
// output of that element is kept already: the first one written stays,
// so that the element's output never changes once a record may count it.
func (vs *values) putElement(ctx context.Context, runID, task string, e driver.Element) error {
	b, err := e.Value.MarshalJSON()
	if err != nil {
		return fmt.Errorf("output of element %d: %v: %w", e.Index, err, driver.ErrEncode)
	}
	if int64(len(b)) > vs.max {
		return vs.tooLarge(fmt.Sprintf("the output of element %d", e.Index), len(b))
	}
	data := b
	if len(b) > inlineMax {
		ref, err := vs.put(ctx, runID, b, e.Value)
		if err != nil {
			return err
		}
		data = append([]byte{elementRef}, ref.Object...)
	}
	if _, err := vs.elems.Create(ctx, elementKey(runID, task, e.Index), data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("natsjs: keep element %d of task %q of run %s: %w", e.Index, task, runID, err)
	}
	return nil
}

// deferred returns the Value of a reference of run runID's record.
func (vs *values) deferred(runID string, ref valueRef) driver.Value {
	return driver.Deferred(ref, ref.Size, ref.Len, func(ctx context.Context) (driver.Value, error) {
		return vs.load(ctx, runID, ref)
	})
}

// load fetches the value ref refers to, through the cache.
func (vs *values) load(ctx context.Context, runID string, ref valueRef) (driver.Value, error) {
	key := ref.Object
	if key == "" {
		key = "elements/" + token(runID) + "/" + ref.Elements
	}
	return vs.cache.do(key, func() (driver.Value, int, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, loadTimeout)
			defer cancel()
		}
		if ref.Object != "" {
			b, err := vs.obj.GetBytes(ctx, ref.Object)
			if err != nil {
				return driver.Value{}, 0, fmt.Errorf("natsjs: read value of run %s: %w", runID, err)
			}
			return driver.RawJSON(b), len(b), nil
		}
		return vs.loadElements(ctx, runID, ref.Elements, ref.Len)
	})
}

// loadElements assembles the list of the n element outputs of the run's
// map task from the elements bucket, reading them all with one watch.
func (vs *values) loadElements(ctx context.Context, runID, task string, n int) (driver.Value, int, error) {
	prefix := elementPrefix(runID, task)
	w, err := vs.elems.Watch(ctx, prefix+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return driver.Value{}, 0, fmt.Errorf("natsjs: read the elements of task %q of run %s: %w", task, runID, err)
	}
	defer func() { _ = w.Stop() }()
	items := make([]json.RawMessage, n)
	got, size := 0, 0
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			return driver.Value{}, 0, fmt.Errorf("natsjs: read the elements of task %q of run %s: %w", task, runID, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok || e == nil { // nil: every kept element has been delivered
				loop = false
				break
			}
			i, err := strconv.Atoi(strings.TrimPrefix(e.Key(), prefix))
			if err != nil || i < 0 || i >= n || items[i] != nil {
				continue
			}
			data := e.Value()
			if len(data) > 0 && data[0] == elementRef {
				if data, err = vs.obj.GetBytes(ctx, string(data[1:])); err != nil {
					return driver.Value{}, 0, fmt.Errorf("natsjs: read element %d of task %q of run %s: %w", i, task, runID, err)
				}
			}
			items[i] = data
			got++
			size += len(data)
		}
	}
	if got < n {
		return driver.Value{}, 0, fmt.Errorf("natsjs: run %s: %d of the %d element outputs of task %q are missing", runID, n-got, n, task)
	}
	// One buffer holds the list, and the elements are slices of it: the
	// list is never split again.
	buf := make([]byte, 0, size+n+2)
	buf = append(buf, '[')
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		start := len(buf)
		buf = append(buf, it...)
		items[i] = buf[start:len(buf):len(buf)]
	}
	buf = append(buf, ']')
	return driver.RawList(buf, items), len(buf), nil
}

// resolve fetches the deferred values of m in place.
func resolve(ctx context.Context, m map[string]driver.Value) error {
	for name, v := range m {
		got, err := driver.Load(ctx, v)
		if err != nil {
			return fmt.Errorf("value %q: %w", name, err)
		}
		m[name] = got
	}
	return nil
}

// valueCache keeps recently read or written values, least recently used
// out first, up to cacheBytes, and makes concurrent reads of one value
// share one fetch.
type valueCache struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	lru     list.List // of *cached, most recent first
	bytes   int
	loading map[string]*fetch
}

type cached struct {
	key  string
	v    driver.Value
	size int
}

type fetch struct {
	done chan struct{}
	v    driver.Value
	err  error
}

func (c *valueCache) get(key string) (driver.Value, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cached).v, true
	}
	return driver.Value{}, false
}

func (c *valueCache) add(key string, v driver.Value, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key, v, size)
}

func (c *valueCache) addLocked(key string, v driver.Value, size int) {
	if size > cacheBytes {
		return
	}
	if c.entries == nil {
		c.entries = make(map[string]*list.Element)
	}
	if e, ok := c.entries[key]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.entries[key] = c.lru.PushFront(&cached{key: key, v: v, size: size})
	c.bytes += size
	for c.bytes > cacheBytes {
		last := c.lru.Back()
		old := c.lru.Remove(last).(*cached)
		delete(c.entries, old.key)
		c.bytes -= old.size
	}
}

// forget drops key from the cache.
func (c *valueCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.bytes -= c.lru.Remove(e).(*cached).size
		delete(c.entries, key)
	}
}

// do returns the cached value of key, or fetches it with fn, once however
// many callers ask at the same time.
func (c *valueCache) do(key string, fn func() (driver.Value, int, error)) (driver.Value, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cached).v, nil
	}
	if f, ok := c.loading[key]; ok {
		c.mu.Unlock()
		<-f.done
		return f.v, f.err
	}
	f := &fetch{done: make(chan struct{})}
	if c.loading == nil {
		c.loading = make(map[string]*fetch)
	}
	c.loading[key] = f
	c.mu.Unlock()

	v, size, err := fn()
	c.mu.Lock()
	delete(c.loading, key)
	if err == nil {
		c.addLocked(key, v, size)
	}
	c.mu.Unlock()
	f.v, f.err = v, err
	close(f.done)
	return v, err
}

// deleteRun removes what a deleted run kept out of its record: the objects
// its values refer to and the outputs of its map elements (with the objects
// they refer to). Objects are named by run, so no other run shares them.
// Errors are logged, not returned: the record is gone already, and what is
// left costs space, not correctness.
func (vs *values) deleteRun(ctx context.Context, rec *driver.RunRecord) {
	drop := func(name string) {
		if err := vs.obj.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			vs.log.Warn("taskwire: delete a value of a deleted run", "run_id", rec.ID, "object", name, "err", err)
		}
		vs.cache.forget(name)
	}
	for _, v := range rec.Values {
		if r, ok := v.Ref(); ok {
			if ref, ok := r.(valueRef); ok && ref.Object != "" {
				drop(ref.Object)
			}
		}
	}
	keys, err := vs.elems.ListKeysFiltered(ctx, token(rec.ID)+".>")
	if err != nil {
		if !errors.Is(err, jetstream.ErrNoKeysFound) {
			vs.log.Warn("taskwire: list the element outputs of a deleted run", "run_id", rec.ID, "err", err)
		}
		return
	}
	for key := range keys.Keys() {
		if e, err := vs.elems.Get(ctx, key); err == nil {
			if b := e.Value(); len(b) > 1 && b[0] == elementRef {
				drop(string(b[1:]))
			}
		}
		if err := vs.elems.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			vs.log.Warn("taskwire: delete an element output of a deleted run", "run_id", rec.ID, "key", key, "err", err)
		}
	}
}
