// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultKeysFilePoll is how often WatchReloads looks at the keys file
// for a change unless WithKeysFilePoll says otherwise.
const DefaultKeysFilePoll = 2 * time.Second

// WithKeysFilePoll sets how often WatchReloads looks at the keys file
// (DefaultKeysFilePoll by default).
func WithKeysFilePoll(d time.Duration) Option { return func(c *config) { c.keysPoll = d } }

// WithReloadHook sets a function called after every reload of keys and
// secrets, with nil when the new set is in use or the error that refused
// it (the old set is then kept). Metrics count failures with it; it must
// not block.
func WithReloadHook(f func(error)) Option { return func(c *config) { c.reloadHook = f } }

// ReloadStats counts a server's reloads of keys and secrets.
type ReloadStats struct {
	Reloads  uint64 // new sets put in use
	Failures uint64 // new sets refused (the old one kept)
}

// reloadCounters are a server's ReloadStats.
type reloadCounters struct {
	reloads, failures atomic.Uint64
}

// ReloadStats returns how many reloads succeeded and failed so far.
func (s *Server) ReloadStats() ReloadStats {
	return ReloadStats{Reloads: s.reloadCount.reloads.Load(), Failures: s.reloadCount.failures.Load()}
}

// ErrSecurityDisabled is returned by Reload on a server without security:
// it has no keys or secrets to reload.
var ErrSecurityDisabled = errors.New("httpapi: security is disabled")

// Reload reads the API keys and secrets again, without a restart: the
// variables of the spec's keys and JWT secrets (through WithGetenv's
// function), the keys file and the JWT public key file. The new set is put
// in use as a whole, or refused as a whole when anything in it is wrong:
// the error is then logged and returned, and the keys and secrets in use
// stay as they were. Requests under way finish with the set they started
// with. WatchReloads calls Reload on SIGHUP and when the keys file changes.
func (s *Server) Reload() error {
	if s.auth == nil {
		return ErrSecurityDisabled
	}
	err := s.auth.reload()
	if err != nil {
		s.reloadCount.failures.Add(1)
		if s.metrics != nil {
			s.metrics.ReloadFailed()
		}
		s.log.Error("taskwire: keys and secrets not reloaded; the previous ones stay in use", "err", err)
	} else {
		s.reloadCount.reloads.Add(1)
		s.log.Info("taskwire: keys and secrets reloaded", "api_keys", s.auth.keyCount())
		if s.auth.jwt != nil {
			s.auth.jwt.refreshRemote(context.Background())
		}
	}
	if s.reloadHook != nil {
		s.reloadHook(err)
	}
	return err
}

// WatchReloads calls Reload on SIGHUP and, when the spec has a keys file,
// whenever that file changes (its modification time, size or identity,
// looked at every DefaultKeysFilePoll), until ctx ends or the server shuts
// down. Serve runs it; a program serving the Server with an http.Server of
// its own runs it in a goroutine. While it runs, SIGHUP no longer ends the
// process.
func (s *Server) WatchReloads(ctx context.Context) {
	if s.auth == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	file := s.svc.Security.KeysFile
	if file != "" {
		t := time.NewTicker(s.keysPoll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-hup:
			_ = s.Reload()
		case <-tick:
			fi, err := os.Stat(file)
			if err != nil {
				fi = nil
			}
			if seen := s.auth.fileSeen.Load(); seen != nil && !changed(seen.fi, fi) {
				continue
			}
			_ = s.Reload()
		}
	}
}

// changed reports whether a file's state differs between two stats (nil:
// the file could not be stat'ed). The file is compared by identity too, so
// that replacing it with a file of the same size and time (a rename over
// it, a Kubernetes volume's symbolic-link swap) is a change.
func changed(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return (a == nil) != (b == nil)
	}
	return !a.ModTime().Equal(b.ModTime()) || a.Size() != b.Size() || !os.SameFile(a, b)
}
