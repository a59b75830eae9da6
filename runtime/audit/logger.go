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

// ErrClosed is returned by Log after Close.
var ErrClosed = errors.New("audit: log is closed")

// Options configure a Logger.
type Options struct {
	// MaxSize is the file size in bytes past which the file is rotated: it
	// is renamed FILE.<UTC time>.<seq> and a new FILE continues the chain.
	MaxSize int64
	// Now is the clock for record times (time.Now by default).
	Now func() time.Time
	// File opens the log file (os.OpenFile by default); tests use it to
	// make writes fail.
	File func(name string, flag int, perm os.FileMode) (File, error)
}

// File is what the Logger writes to.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// Logger appends records to an audit file. It is safe for concurrent use.
type Logger struct {
	path string
	opts Options

	mu      sync.Mutex // guards the fields below
	file    File
	size    int64
	seq     uint64
	head    string // hash of the last record written
	pending []*pending
	writing bool
	syncs   chan struct{} // a slot per fsync in flight (maxSyncs)
	closed  bool
	err     error // sticky write error: the log fails closed
}

type pending struct {
	rec  *Record
	done chan error
	lead chan struct{} // closed when this caller becomes the writer
	err  error         // the record could not be encoded; it was skipped
}

// Open opens (or creates) the audit log at path, continuing the chain of
// the records already in it. A torn last line, left by a crash before its
// fsync, is cut off: no request was answered for it.
func Open(path string, opts Options) (*Logger, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.File == nil {
		opts.File = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	l := &Logger{path: path, opts: opts, head: GenesisHash, syncs: make(chan struct{}, maxSyncs)}
	if err := l.recover(); err != nil {
		return nil, err
	}
	if err := l.openFile(); err != nil {
		return nil, err
	}
	return l, nil
}

// recover reads the chain's head from the existing file, or from the newest
// rotated file when the current one is empty or absent.
func (l *Logger) recover() error {
	data, err := os.ReadFile(l.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: reading %s: %w", l.path, err)
	}
	if n := bytes.LastIndexByte(data, '\n'); n+1 < len(data) {
		// Cut a torn tail.
		if err := os.Truncate(l.path, int64(n+1)); err != nil {
			return fmt.Errorf("audit: cutting the torn last line of %s: %w", l.path, err)
		}
		data = data[:n+1]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		rotated, _ := filepath.Glob(l.path + ".*")
		if len(rotated) == 0 {
			return nil
		}
		newest := rotated[len(rotated)-1] // names sort by time
		if data, err = os.ReadFile(newest); err != nil {
			return fmt.Errorf("audit: reading %s: %w", newest, err)
		}
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	last := lines[len(lines)-1]
	if len(last) == 0 {
		return nil
	}
	rec, hash, err := decode(last)
	if err != nil {
		return fmt.Errorf("audit: the last record of %s is damaged (%v); run `taskwire audit verify` and move the file aside", l.path, err)
	}
	l.seq, l.head = rec.Seq, hash
	return nil
}

func (l *Logger) openFile() error {
	f, err := l.opts.File(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.file, l.size = f, fi.Size()
	return nil
}

// Head returns the sequence number and hash of the last record written.
func (l *Logger) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
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

// maxSyncs is how many syncs may be in flight at once. The writer's role
// passes on as soon as a batch is written, so a second batch could be
// synced while the first still is; measured under wrk on the reference
// machine, one sync at a time gave the best throughput (bigger batches, less
// journal work per record), so the pipeline is kept but set to 1.
const maxSyncs = 1

// Log appends rec (its Seq, Prev and, when zero, Time are filled in) and
// returns once it is on disk. After a write or sync error every Log fails:
// the log fails closed rather than leave gaps.
//
// Group commit: one caller at a time is the writer; it appends every record
// queued meanwhile in one write, hands the writer's role to a waiting
// caller, then syncs its batch, so that up to maxSyncs batches are synced
// at once.
func (l *Logger) Log(rec Record) error {
	p := &pending{rec: &rec, done: make(chan error, 1), lead: make(chan struct{})}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return err
	}
	l.pending = append(l.pending, p)
	if l.writing {
		l.mu.Unlock()
		select {
		case err := <-p.done:
			return err
		case <-p.lead: // this caller is the writer now
		}
	} else {
		l.writing = true
		l.mu.Unlock()
	}
	l.lead()
	return <-p.done
}

// lead is the writer's turn: it waits for a sync slot (records queue up
// meanwhile), writes the queued batch, passes the writer's role on, syncs
// the batch and reports to its callers.
func (l *Logger) lead() {
	l.syncs <- struct{}{}
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	err := l.err
	if err == nil && l.closed {
		err = ErrClosed
	}
	l.mu.Unlock()
	if err == nil {
		err = l.write(batch)
	}
	l.mu.Lock()
	if err != nil && l.err == nil && err != ErrClosed {
		l.err = err
	}
	if len(l.pending) > 0 {
		next := l.pending[0]
		close(next.lead) // its caller writes the next batch
	} else {
		l.writing = false
	}
	l.mu.Unlock()
	if err == nil && hasRecords(batch) {
		if serr := syncData(l.file); serr != nil {
			err = fmt.Errorf("audit: syncing %s: %w", l.path, serr)
			l.mu.Lock()
			if l.err == nil {
				l.err = err
			}
			l.mu.Unlock()
		}
	}
	<-l.syncs
	for _, b := range batch {
		if b.err != nil { // this record alone could not be encoded
			b.done <- b.err
			continue
		}
		b.done <- err
	}
}

func hasRecords(batch []*pending) bool {
	for _, b := range batch {
		if b.err == nil {
			return true
		}
	}
	return false
}

// write encodes a batch in order and appends it (the caller syncs). Only
// the writer calls it, so seq and head need the lock only to be read
// elsewhere.
func (l *Logger) write(batch []*pending) error {
	l.mu.Lock()
	seq, head := l.seq, l.head
	l.mu.Unlock()
	var buf bytes.Buffer
	for _, p := range batch {
		p.rec.Seq, p.rec.Prev = seq+1, head
		if p.rec.Time.IsZero() {
			p.rec.Time = l.opts.Now().UTC()
		}
		line, hash, err := encode(p.rec)
		if err != nil {
			// Only this record is refused (a custom event's details that
			// JSON cannot encode): the chain and the other records go on.
			p.err = err
			continue
		}
		seq++
		buf.Write(line)
		buf.WriteByte('\n')
		head = hash
	}
	if buf.Len() == 0 {
		return nil
	}
	if l.size > 0 && l.size+int64(buf.Len()) > l.opts.MaxSize {
		// The other batches' syncs must end before their file is closed:
		// take every other sync slot.
		for range maxSyncs - 1 {
			l.syncs <- struct{}{}
		}
		err := l.rotate()
		for range maxSyncs - 1 {
			<-l.syncs
		}
		if err != nil {
			return err
		}
	}
	if _, err := l.file.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("audit: writing %s: %w", l.path, err)
	}
	l.mu.Lock()
	l.size += int64(buf.Len())
	l.seq, l.head = seq, head
	l.mu.Unlock()
	return nil
}

// rotate renames the full file and opens a new one; the chain goes on.
func (l *Logger) rotate() error {
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("audit: closing %s: %w", l.path, err)
	}
	name := fmt.Sprintf("%s.%s.%010d", l.path, l.opts.Now().UTC().Format("20060102T150405Z"), l.seq)
	if err := os.Rename(l.path, name); err != nil {
		return fmt.Errorf("audit: rotating %s: %w", l.path, err)
	}
	return l.openFile()
}

// Close closes the file; later Logs fail with ErrClosed.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	// Let the batches in flight end: take every sync slot, then give them
	// back for a writer still waiting for one (it finds the log closed).
	for range maxSyncs {
		l.syncs <- struct{}{}
	}
	err := l.file.Close()
	for range maxSyncs {
		<-l.syncs
	}
	l.mu.Lock()
	return err
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
