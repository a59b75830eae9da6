// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/route"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// DefaultAnonymousRate is the limit of anonymous requests per client address
// (requests to unknown routes, with the wrong method, to public routes, or
// without credentials) when Security.Anonymous is nil.
var DefaultAnonymousRate = route.DefaultAnonymousRate

// Defaults of the low-disk shedding.
const (
	// DefaultAuditMinFree is the free space below which the audit log's
	// file system is low (Audit.MinFree 0).
	DefaultAuditMinFree = 64 << 20
	// AuditMinFreeOff as Audit.MinFree turns low-disk shedding off.
	AuditMinFreeOff = -1
	// DefaultFreeSpaceInterval is how often the free space is read, at
	// most (on the server's clock, by the anonymous requests that need it).
	DefaultFreeSpaceInterval = 5 * time.Second
)

// WithFreeSpace sets how the server reads the free bytes of the file system
// holding a directory (audit.FreeSpace by default), for tests and for
// systems where statfs says nothing useful.
func WithFreeSpace(free func(dir string) (uint64, error)) Option {
	return func(c *config) { c.freeSpace = free }
}

// WithAuditSummaries sets the window and the address cap of the summaries
// of anonymous requests (audit.DefaultSummaryWindow and
// audit.DefaultSummaryAddresses by default; zero keeps a default).
func WithAuditSummaries(window time.Duration, maxAddresses int) Option {
	return func(c *config) { c.summaryWindow, c.summaryAddrs = window, maxAddresses }
}

// anonState is what the server keeps to bound anonymous traffic.
type anonState struct {
	rate    Rate
	summary *audit.Summarizer // nil without an audit log
	free    func(string) (uint64, error)
	dir     string // of the audit file
	minFree uint64 // 0: no shedding
	next    atomic.Int64
	low     atomic.Bool
	warned  atomic.Bool
}

// setUpAnonymous configures the bounds of anonymous traffic, once the audit
// log is open.
func (s *Server) setUpAnonymous(c *config) error {
	sec := s.svc.Security
	if !sec.Enabled {
		return nil
	}
	s.anon.rate = DefaultAnonymousRate
	if sec.Anonymous != nil {
		s.anon.rate = *sec.Anonymous
	}
	if s.anon.rate.N < 1 || s.anon.rate.Per <= 0 {
		return fmt.Errorf("httpapi: the anonymous rate limit must be positive, not %d per %s", s.anon.rate.N, s.anon.rate.Per)
	}
	if s.audit == nil {
		return nil
	}
	if c.summaryWindow < 0 || c.summaryAddrs < 0 {
		return fmt.Errorf("httpapi: the audit summaries' window and address cap must not be negative")
	}
	s.anon.summary = audit.NewSummarizer(s.audit, audit.SummaryOptions{Window: c.summaryWindow, MaxAddresses: c.summaryAddrs, Now: c.now})
	switch m := sec.Audit.MinFree; {
	case m == 0:
		s.anon.minFree = DefaultAuditMinFree
	case m > 0:
		s.anon.minFree = uint64(m)
	case m != AuditMinFreeOff:
		return fmt.Errorf("httpapi: audit minimum free space %d; use a positive size, 0 for the default or AuditMinFreeOff", m)
	}
	s.anon.free = c.freeSpace
	if s.anon.free == nil {
		s.anon.free = audit.FreeSpace
	}
	file := sec.Audit.File
	if file == "" {
		file = "."
	}
	s.anon.dir = filepath.Dir(file)
	return nil
}

// presented reports whether a request carries a credential this server
// would verify: its API key header, or Authorization where bearer tokens
// are accepted.
func (a *authenticator) presented(r *http.Request) bool {
	if a.apiKey && len(r.Header[a.canonical]) > 0 {
		return true
	}
	return a.jwt != nil && len(r.Header["Authorization"]) > 0
}

// admitAnonymous bounds a request that will not be authenticated (an
// unknown route, a public route, or one without credentials) before any of
// its work or audit: while the audit log's disk is low it answers 503, and
// past the client address's anonymous limit 429. It reports false when it
// answered. Either way the request is marked anonymous, so that its audit
// is a count in its address's summary. limited false skips the anonymous
// limit, for a public route limited per address by its own (the console).
func (s *Server) admitAnonymous(w http.ResponseWriter, r *http.Request, info *requestInfo, limited bool) bool {
	if !s.svc.Security.Enabled {
		return true
	}
	info.anon = true
	if s.diskLow() {
		info.shed = true
		if s.metrics != nil {
			s.metrics.AnonymousShed(telemetry.ShedLowDisk)
		}
		w.Header().Set("Retry-After", "30")
		writeProblem(w, r, http.StatusServiceUnavailable, "the server is short of disk space for its audit log and serves authenticated requests only; retry later")
		return false
	}
	if !limited {
		return true
	}
	var kb [maxKeyOnStack]byte
	key := appendRateKey(append(kb[:0], "anon|"...), nil, s.clientAddr(r))
	ok, _, retry, _ := s.addrLimits.takeKey(key, s.anon.rate, s.now())
	if ok {
		return true
	}
	if s.metrics != nil {
		s.metrics.AnonymousShed(telemetry.ShedRateLimited)
	}
	wait := ceilSeconds(retry)
	w.Header().Set("Retry-After", strconv.Itoa(wait))
	writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many requests without credentials from this address (limit %d per %s); retry in %d s", s.anon.rate.N, s.anon.rate.Per, wait))
	return false
}

// diskLow reports whether the audit log's file system has less free space
// than the minimum. The space is read at most every
// DefaultFreeSpaceInterval; when it cannot be read, the disk is not low
// (the log itself still fails closed when a write fails).
func (s *Server) diskLow() bool {
	a := &s.anon
	if a.minFree == 0 {
		return false
	}
	now := s.now().UnixNano()
	if next := a.next.Load(); now >= next && a.next.CompareAndSwap(next, now+int64(DefaultFreeSpaceInterval)) {
		free, err := a.free(a.dir)
		switch {
		case err != nil:
			a.low.Store(false)
			if !a.warned.Swap(true) {
				s.log.Warn("taskwire: cannot read the audit log's free space; anonymous requests are not shed on low disk", "dir", a.dir, "err", err)
			}
		default:
			low := free < a.minFree
			if low && !a.low.Load() {
				s.log.Warn("taskwire: the audit log's disk is low; shedding anonymous requests", "dir", a.dir, "free_bytes", free, "min_free_bytes", a.minFree)
			}
			a.low.Store(low)
			if s.metrics != nil {
				s.metrics.AuditFreeBytes(free)
			}
		}
	}
	return a.low.Load()
}

// summarized counts an anonymous request in its address's summary instead
// of writing its own record, and reports whether it did. A request shed on
// low disk is always counted; a server error keeps its own record; the
// first request of an address in a window is written in full.
func (a *auditWriter) summarized() bool {
	info, sum := a.info, a.s.anon.summary
	if !info.anon || sum == nil {
		return false
	}
	route := telemetry.UnroutedRoute
	if info.Route != nil {
		route = info.Route.OperationID
	}
	addr := summaryAddr(info.addr)
	if info.shed {
		sum.Count(addr, route, a.status)
		return true
	}
	if a.status >= 500 {
		return false
	}
	return !sum.Note(addr, route, a.status)
}

// summaryAddr is the address a summary names: like the rate limits, an IPv6
// client by its /64.
func summaryAddr(ip netip.Addr) string {
	if ip.Is6() {
		pfx, _ := ip.Prefix(64)
		return pfx.String()
	}
	return ip.String()
}

// closeSummaries writes the summaries of the current window.
func (s *Server) closeSummaries() error {
	if s.anon.summary == nil {
		return nil
	}
	return s.anon.summary.Close()
}
