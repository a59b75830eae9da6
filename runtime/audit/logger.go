// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultMaxSize is the size at which the log file is rotated unless
// Options.MaxSize says otherwise.
const DefaultMaxSize = 100 << 20

// SyncMode says when a record counts as written, and so when Log returns.
type SyncMode string

// The sync modes.
const (
	// Interval: Log returns once the record is written to the file (the
	// write(2) is done: a crash of the process loses nothing, the kernel
	// holds the data), and the file is synced at least every
	// Options.SyncInterval (plus the time a sync in progress takes), so a
	// crash of the machine or of its power loses at most the records of
	// that window. It is the default, like Linux auditd's incremental
	// flushing and PostgreSQL's asynchronous commit.
	Interval SyncMode = "interval"
	// Always: Log returns once the record is synced to the disk (fdatasync
	// on Linux); concurrent callers share one sync (group commit).
	Always SyncMode = "always"
)

// Bounds and default of Options.SyncInterval. The bounds are those of
// PostgreSQL's wal_writer_delay, the same trade-off.
const (
	DefaultSyncInterval = 50 * time.Millisecond
	MinSyncInterval     = time.Millisecond
	MaxSyncInterval     = 10 * time.Second
)

// ErrClosed is returned by Log after Close.
var ErrClosed = errors.New("audit: log is closed")

// Options configure a Logger.
type Options struct {
	// MaxSize is the file size in bytes past which the file is rotated: it
	// is renamed FILE.<UTC time>.<seq> and a new FILE continues the chain.
	MaxSize int64
	// Sync is when a record counts as written: Interval (the default) or Always.
	Sync SyncMode
	// SyncInterval is the longest a written record waits for its sync in
	// Interval mode: DefaultSyncInterval by default, from MinSyncInterval
	// to MaxSyncInterval.
	SyncInterval time.Duration
	// Now is the clock for record times (time.Now by default).
	Now func() time.Time
	// After starts the wait before an interval sync (time.After by
	// default); tests pass a channel they fire themselves.
	After func(time.Duration) <-chan time.Time
	// File opens the log file (os.OpenFile by default); tests use it to
	// make writes fail.
	File func(name string, flag int, perm os.FileMode) (File, error)
	// Observer, when set, is told about writes, syncs and failures, for
	// metrics; when it is also a CheckpointObserver, about checkpoints.
	Observer Observer
	// Key, when set, keys the chain: each record's hash is an
	// HMAC-SHA256 with it (the record's last field is "mac" instead of
	// "hash"), so that only a holder of the key can recompute the chain.
	// At least MinKeyLen bytes; KeyFromEnv reads one from the environment.
	Key []byte
	// CheckpointInterval is how often a checkpoint is emitted when records
	// were written since the last one (DefaultCheckpointInterval by
	// default; negative: only at open, rotation and close).
	CheckpointInterval time.Duration
}

// Observer is told what a Logger does. Its methods must be fast and safe
// for concurrent use.
type Observer interface {
	// Written is called when records reach the file (before their sync in
	// Interval mode).
	Written(records int)
	// Synced is called after each sync of the file, with how long it took.
	Synced(took time.Duration)
	// Failed is called for each record that could not be written: the
	// caller got an error, and its request was refused.
	Failed()
}

// noObserver is the Observer of a Logger without one.
type noObserver struct{}

func (noObserver) Written(int)          {}
func (noObserver) Synced(time.Duration) {}
func (noObserver) Failed()              {}

// File is what the Logger writes to.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// Logger appends records to an audit file. It is safe for concurrent use.
//
// Records are appended in batches: the first caller to find no batch
// gathering leads the next one; while the batch before is being written
// (and, with Always, synced), later callers join it. The leader then writes
// the whole batch in one write, and every caller of the batch returns.
type Logger struct {
	path string
	opts Options

	mu       sync.Mutex // guards the fields below
	file     File       // replaced only by rotate, which also holds fileMu
	size     int64
	seq      uint64  // last record written
	head     hexHash // hash of the last record written
	assigned uint64  // last sequence number given to a queued record
	pend     []entry // the batch being gathered
	spare    []entry
	batch    uint64 // number of the batch being gathered
	done     uint64 // batches up to this one are finished
	writing  bool   // a leader is writing (and, with Always, syncing)
	idle     sync.Cond
	finished [2]sync.Cond // batch n's callers wait on finished[n%2]
	// failedFrom is the first batch that failed, failErr why: batches are
	// written in order and a failure is final, so every later batch fails.
	failedFrom uint64
	failErr    error
	closed     bool
	err        error // a write or sync error: the log fails closed
	dirty      bool  // Interval: written since the last sync
	wbuf       []byte
	sum        *chainSum // the leader's: hashes or MACs of the records
	lastFile   string    // the newest rotated file, which holds l.seq while the current file is empty
	cpSeq      uint64    // the sequence number of the last checkpoint
	cpStarted  bool      // a checkpoint was emitted

	fileMu   sync.Mutex    // held while the file is synced, rotated or closed
	kick     chan struct{} // Interval: the file became dirty
	stop     chan struct{} // Interval: Close stops the syncer
	syncDone chan struct{}
	cpStop   chan struct{} // Close stops the checkpointer
	cpDone   chan struct{}
}

type entry struct {
	rec     Record
	details []byte
}

// Open opens (or creates) the audit log at path, continuing the chain of
// the records already in it. A torn last line, left by a crash in the
// middle of a write, is cut off and kept as evidence in a recovery record
// (TypeRecovery), which is synced before Open returns. A keyed chain needs
// its key: Open refuses it without Options.Key, or with another key.
func Open(path string, opts Options) (*Logger, error) {
	if len(opts.Key) > 0 && len(opts.Key) < MinKeyLen {
		return nil, fmt.Errorf("audit: the chain key is %d bytes, it must be at least %d; make one with `taskwire keygen`", len(opts.Key), MinKeyLen)
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	switch opts.Sync {
	case "":
		opts.Sync = Interval
	case Interval, Always:
	default:
		return nil, fmt.Errorf("audit: sync mode %q; use %q or %q", opts.Sync, Interval, Always)
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if opts.SyncInterval < MinSyncInterval || opts.SyncInterval > MaxSyncInterval {
		return nil, fmt.Errorf("audit: sync interval %s is outside %s to %s", opts.SyncInterval, MinSyncInterval, MaxSyncInterval)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.File == nil {
		opts.File = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	l := &Logger{path: path, opts: opts, head: genesis, batch: 1, sum: newChainSum(opts.Key)}
	l.idle.L = &l.mu
	l.finished[0].L, l.finished[1].L = &l.mu, &l.mu
	torn, err := l.recover()
	if err != nil {
		return nil, err
	}
	if err := l.openFile(); err != nil {
		return nil, err
	}
	if torn != nil {
		if err := l.writeRecovery(torn); err != nil {
			l.file.Close()
			return nil, err
		}
	}
	l.assigned = l.seq
	if opts.Sync == Interval {
		l.kick, l.stop, l.syncDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go l.syncLoop()
	}
	if l.seq > 0 {
		l.emitCheckpoint(l.checkpointOf(l.seq, l.head))
	}
	if opts.CheckpointInterval > 0 {
		l.cpStop, l.cpDone = make(chan struct{}), make(chan struct{})
		go l.checkpointLoop()
	}
	return l, nil
}

// recover reads the chain's head from the existing file, or from the newest
// rotated file when the current one is empty or absent. It cuts a torn last
// line off the file and returns its bytes (nil when there is none).
func (l *Logger) recover() (torn []byte, err error) {
	data, err := os.ReadFile(l.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: reading %s: %w", l.path, err)
	}
	if n := bytes.LastIndexByte(data, '\n'); n+1 < len(data) {
		torn = bytes.Clone(data[n+1:])
		if err := os.Truncate(l.path, int64(n+1)); err != nil {
			return nil, fmt.Errorf("audit: cutting the torn last line of %s: %w", l.path, err)
		}
		data = data[:n+1]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		rotated, _ := filepath.Glob(l.path + ".*")
		if len(rotated) == 0 {
			return torn, nil
		}
		l.lastFile = rotated[len(rotated)-1] // names sort by time
		if data, err = os.ReadFile(l.lastFile); err != nil {
			return nil, fmt.Errorf("audit: reading %s: %w", l.lastFile, err)
		}
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	last := lines[len(lines)-1]
	if len(last) == 0 {
		return torn, nil
	}
	rec, hash, keyed, err := decode(last, l.sum)
	switch {
	case errors.Is(err, ErrKeyNeeded):
		return nil, fmt.Errorf("audit: the chain of %s is keyed (its last record has a mac) but no key was given; set the chain key (security.audit.key_env) it was written with", l.path)
	case err != nil && keyed:
		return nil, fmt.Errorf("audit: the last record of %s does not match the chain key (%v): the key is another one, or the record was edited; run `taskwire audit verify` with the key", l.path, err)
	case err != nil:
		return nil, fmt.Errorf("audit: the last record of %s is damaged (%v); run `taskwire audit verify` and move the file aside", l.path, err)
	}
	l.seq = rec.Seq
	copy(l.head[:], hash)
	return torn, nil
}

// openFile opens the current file; when it makes the file, it syncs the
// directory too, so that the file's name survives a crash of the machine.
func (l *Logger) openFile() error {
	_, statErr := os.Stat(l.path)
	f, err := l.opts.File(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			f.Close()
			return fmt.Errorf("audit: syncing the directory of %s: %w", l.path, err)
		}
	}
	l.file, l.size = f, fi.Size()
	return nil
}

// Head returns the sequence number and hash of the last record written.
func (l *Logger) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, string(l.head[:])
}

// Err returns why the log refuses records: ErrClosed after Close, or the
// write or sync error that made it fail closed; nil while it works.
func (l *Logger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// Log appends rec (its Seq, Prev and, when zero, Time are filled in) and
// returns once it is written as the log's SyncMode says. After a write or
// sync error every Log fails: the log fails closed rather than leave gaps.
// A record whose Details JSON cannot encode fails alone.
func (l *Logger) Log(rec Record) error {
	_, err := l.Append(rec)
	return err
}

// Append is Log, returning the sequence number the record got.
func (l *Logger) Append(rec Record) (uint64, error) {
	seq, err := l.append(rec)
	if err != nil {
		l.opts.Observer.Failed()
	}
	return seq, err
}

func (l *Logger) append(rec Record) (uint64, error) {
	details, err := encodeDetails(rec.Details)
	if err != nil {
		return 0, err
	}
	rec.Details = nil
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return 0, ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return 0, err
	}
	l.assigned++
	rec.Seq = l.assigned
	l.pend = append(l.pend, entry{rec: rec, details: details})
	n := l.batch
	if len(l.pend) > 1 { // the batch has a leader: wait for it
		for l.done < n {
			l.finished[n%2].Wait()
		}
		err := l.result(n)
		l.mu.Unlock()
		return rec.Seq, err
	}
	for l.writing {
		l.idle.Wait()
	}
	if l.closed || l.err != nil {
		err := l.err
		if err == nil {
			err = ErrClosed
		}
		clear(l.pend)
		l.pend = l.pend[:0]
		l.batch++
		l.finish(n, err)
		l.mu.Unlock()
		return rec.Seq, err
	}
	l.writing = true
	batch := l.pend
	l.pend, l.spare = l.spare[:0], nil
	l.batch++
	l.mu.Unlock()

	err = l.write(batch)
	if err == nil && l.opts.Sync == Always {
		if serr := l.syncFile(l.file); serr != nil {
			err = fmt.Errorf("audit: syncing %s: %w", l.path, serr)
		}
	}

	l.mu.Lock()
	clear(batch) // drop the records' strings
	l.spare = batch[:0]
	if err != nil && l.err == nil {
		l.err = err
	}
	if err == nil && l.opts.Sync == Interval && !l.dirty {
		l.dirty = true
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	l.writing = false
	l.idle.Broadcast()
	l.finish(n, err)
	err = l.result(n)
	l.mu.Unlock()
	return rec.Seq, err
}

// finish marks batch n done (failed with err, unless nil) and wakes its
// callers; l.mu is held.
func (l *Logger) finish(n uint64, err error) {
	if err != nil && l.failedFrom == 0 {
		l.failedFrom, l.failErr = n, err
	}
	l.done = n
	l.finished[n%2].Broadcast()
}

// result is the outcome of finished batch n; l.mu is held.
func (l *Logger) result(n uint64) error {
	if l.failedFrom != 0 && n >= l.failedFrom {
		return l.failErr
	}
	return nil
}

// write encodes a batch in order and appends it in one write, rotating
// first when the file would pass its size. Only the leader calls it.
func (l *Logger) write(batch []entry) error {
	l.mu.Lock()
	seq, head := l.seq, l.head
	l.mu.Unlock()
	if batch[0].rec.Seq != seq+1 {
		return fmt.Errorf("audit: internal error: record %d queued after record %d", batch[0].rec.Seq, seq)
	}
	buf := l.wbuf[:0]
	for i := range batch {
		e := &batch[i]
		if e.rec.Time.IsZero() {
			e.rec.Time = l.opts.Now()
		}
		e.rec.Time = e.rec.Time.UTC()
		buf, head = appendRecord(buf, &e.rec, e.details, &head, l.sum)
	}
	if cap(buf) <= 1<<20 { // keep the buffer unless one batch made it huge
		l.wbuf = buf
	}
	seq = batch[len(batch)-1].rec.Seq
	if l.size > 0 && l.size+int64(len(buf)) > l.opts.MaxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.file.Write(buf); err != nil {
		return fmt.Errorf("audit: writing %s: %w", l.path, err)
	}
	l.opts.Observer.Written(len(batch))
	l.mu.Lock()
	l.size += int64(len(buf))
	l.seq, l.head = seq, head
	l.mu.Unlock()
	return nil
}

// rotate renames the full file and opens a new one; the chain goes on.
// The full file is synced first, so its records keep the promise of the
// sync mode once the file is no longer the current one.
func (l *Logger) rotate() error {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if l.opts.Sync == Interval {
		if err := syncData(l.file); err != nil {
			return fmt.Errorf("audit: syncing %s: %w", l.path, err)
		}
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("audit: closing %s: %w", l.path, err)
	}
	l.mu.Lock()
	name := fmt.Sprintf("%s.%s.%010d", l.path, l.opts.Now().UTC().Format("20060102T150405Z"), l.seq)
	l.mu.Unlock()
	if err := os.Rename(l.path, name); err != nil {
		return fmt.Errorf("audit: rotating %s: %w", l.path, err)
	}
	l.mu.Lock()
	l.lastFile = name
	err := l.openFile() // it syncs the directory, which holds both names
	cp := l.checkpointOf(l.seq, l.head)
	l.mu.Unlock()
	if err == nil {
		l.emitCheckpoint(cp)
	}
	return err
}

// Sync makes every record written so far durable now. In Interval mode the
// log does it by itself at least every SyncInterval; in Always mode every
// record is already synced when Log returns. A sync error makes the log
// fail closed.
func (l *Logger) Sync() error {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	return l.syncLocked(false)
}

// syncLocked syncs the file when it is dirty, or always with force (in
// Always mode the last batch's sync may be under way); l.fileMu is held.
func (l *Logger) syncLocked(force bool) error {
	l.mu.Lock()
	if l.file == nil || !l.dirty && !force {
		l.mu.Unlock()
		return nil
	}
	l.dirty = false
	f := l.file
	l.mu.Unlock()
	if err := l.syncFile(f); err != nil {
		err = fmt.Errorf("audit: syncing %s: %w", l.path, err)
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		if l.failedFrom == 0 {
			// Batches not finished yet fail; those finished were
			// written and their callers told so.
			l.failedFrom, l.failErr = l.done+1, err
		}
		l.mu.Unlock()
		return err
	}
	return nil
}

// syncFile syncs f's data, timing it for the observer.
func (l *Logger) syncFile(f File) error {
	began := time.Now()
	err := syncData(f)
	if err == nil {
		l.opts.Observer.Synced(time.Since(began))
	}
	return err
}

// syncLoop is Interval mode's syncer: once a write makes the file dirty, it
// waits SyncInterval and syncs everything written until then.
func (l *Logger) syncLoop() {
	defer close(l.syncDone)
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			return
		}
		select {
		case <-l.opts.After(l.opts.SyncInterval):
		case <-l.stop:
			return // Close syncs what is left
		}
		_ = l.Sync() // an error is kept in l.err: later Logs fail
	}
}

// Close waits for the batch being written, syncs what is not yet synced and
// closes the file; later Logs fail with ErrClosed.
func (l *Logger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.writing {
		l.idle.Wait()
	}
	l.mu.Unlock()
	if l.stop != nil {
		close(l.stop)
		<-l.syncDone
	}
	if l.cpStop != nil {
		close(l.cpStop)
		<-l.cpDone
	}
	err := l.Sync()
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	f := l.file
	l.file = nil
	cp, emit := l.checkpointOf(l.seq, l.head), err == nil && l.err == nil && l.seq > 0
	l.mu.Unlock()
	if emit {
		l.emitCheckpoint(cp)
	}
	return errors.Join(err, f.Close())
}

// Files returns the log's files in chain order: rotated files, then the current one.
func Files(path string) ([]string, error) {
	rotated, err := filepath.Glob(path + ".*")
	if err != nil {
		return nil, err
	}
	return append(rotated, path), nil
}

// scanner reads lines of any length up to a bound.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return sc
}
