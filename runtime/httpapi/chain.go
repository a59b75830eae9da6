// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime/telemetry"
)

// chain wraps a route's handler in the middleware every route shares, in
// this order: request id and audit record, panic recovery, security
// headers, HTTPS enforcement, the client address's failed-authentication
// budget, authentication, rate limiting (per principal, or per client
// address on public routes), authorisation, body limit, handler.
func (s *Server) chain(rt *Route, h http.Handler) http.Handler {
	pol := newRoutePolicy(rt)
	var rm *telemetry.Route
	if s.metrics != nil {
		rm = s.metrics.Route(rt.OperationID)
	}
	return chained(func(w http.ResponseWriter, r *http.Request) {
		var began time.Time
		if rm != nil {
			began = time.Now()
		}
		var span trace.Span
		if s.tracer != nil {
			r, span = s.startSpan(r, rt.Method+" "+rt.Path, rt.Path)
		}
		info := &requestInfo{RequestID: newRequestID(), Route: rt, addr: s.clientIP(r), policy: pol}
		r = withInfo(r, info)
		s.audited(w, r, info, func(w http.ResponseWriter) { s.serveRoute(w, r, rt, h, info) })
		if rm != nil || span != nil {
			s.observe(rm, span, info, began)
		}
	})
}

// chained is a route's handler behind the chain; ServeHTTP tells it from
// the handlers ServeMux makes itself (redirects, 404, 405).
type chained func(http.ResponseWriter, *http.Request)

func (c chained) ServeHTTP(w http.ResponseWriter, r *http.Request) { c(w, r) }

// hstsValue is the Strict-Transport-Security header of HTTPS responses.
const hstsValue = "max-age=63072000; includeSubDomains"

// serveRoute runs the chain after the audit record's set-up.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *Route, h http.Handler, info *requestInfo) {
	h0 := w.Header()
	setSecurityHeadersIn(h0, info.hdr[:secHeaders])
	info.hdr[secHeaders] = info.RequestID
	h0["X-Request-Id"] = info.hdr[secHeaders : secHeaders+1 : secHeaders+1]
	if s.tls(r) {
		h0.Set("Strict-Transport-Security", hstsValue)
	}
	defer s.recoverPanic(w, r)

	if s.svc.Security.Enabled && (rt.Public || !s.auth.presented(r)) && !s.admitAnonymous(w, r, info, !rt.Public || rt.Limit == nil) {
		return // 503 on low disk, or 429
	}
	if s.svc.Security.Enabled && s.svc.Security.RequireHTTPS && !s.tls(r) {
		info.anon = true // no credential was verified
		writeProblem(w, r, http.StatusForbidden, "HTTPS is required")
		return
	}
	if !rt.Public {
		var p *Principal
		var ok bool
		if s.svc.Security.Enabled {
			if wait, throttled := s.authThrottled(r); throttled {
				p, ok = s.authenticateThrottled(w, r, wait)
			} else {
				p, ok = s.authenticate(w, r)
			}
		} else {
			p, ok = anonymous, true
		}
		if !ok {
			return
		}
		info.anon = false
		info.Principal = p
		info.AuthMethod = p.Method
	}
	if !s.limit(w, r, rt, info.Principal) {
		return
	}
	if rt.Pipeline != "" {
		info.PipelineID = rt.Pipeline
		if !s.policy.allowed(info.Principal, rt.Action, rt.Pipeline) {
			s.forbid(w, r, rt.Action, rt.Pipeline)
			return
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	}
	if a, ok := w.(*auditWriter); ok && changesState(rt) && !a.intend() {
		return // 503: nothing happens that the log cannot show
	}
	h.ServeHTTP(w, r)
}

// changesState reports whether a route's requests change state (start,
// cancel or re-run runs, requeue dead letters, or whatever a user route
// granted execute or write does), so that an intent record precedes their
// handler. A GET changes nothing, whatever action it needs (listing dead
// letters needs write).
func changesState(rt *Route) bool {
	return (rt.Action == ActionExecute || rt.Action == ActionWrite) && rt.Method != http.MethodGet && rt.Method != http.MethodHead
}

// forbid answers 403 for a principal that lacks action on pipeline.
func (s *Server) forbid(w http.ResponseWriter, r *http.Request, action Action, pipeline string) {
	writeProblem(w, r, http.StatusForbidden, fmt.Sprintf("not allowed to %s pipeline %s", action, pipeline))
}

// authenticate returns the request's principal, or answers 401 and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	p, err := s.auth.authenticate(r)
	if err == nil {
		return p, true
	}
	if err != errNoCredentials {
		s.authFailed(r) // a wrong credential: count it against the address
		if info := infoFrom(r); info != nil {
			info.anon = false // and record it in full: the lockout bounds how many
		}
	}
	if s.metrics != nil {
		s.metrics.AuthFailure(failureReason(err))
	}
	for _, c := range s.auth.challenges() {
		w.Header().Add("WWW-Authenticate", c)
	}
	detail := err.Error()
	if info := infoFrom(r); info != nil {
		info.Detail = detail
	}
	writeProblem(w, r, http.StatusUnauthorized, detail)
	return nil, false
}

// authenticateThrottled authenticates a request from an address that has
// spent its failed-authentication budget. Only credentials that cost
// nothing to check beyond a hash get through: an API key (its check is
// a SHA-256 and constant-time comparisons, as always), or a bearer token
// this server has verified before and that has not expired. Anything else
// answers 429 without being verified, so that an attacker sharing the
// address (a NAT, a proxy, an IPv6 /64) cannot lock its other clients out,
// and cannot make the server verify signatures or fetch keys either.
func (s *Server) authenticateThrottled(w http.ResponseWriter, r *http.Request, wait time.Duration) (*Principal, bool) {
	if p, err := s.auth.authenticateCheap(r); err == nil {
		return p, true
	}
	if info := infoFrom(r); info != nil {
		info.anon = true // nothing was verified: a count in the summary
	}
	s.throttle(w, r, wait)
	return nil, false
}

// recoverPanic turns a panicking handler into a 500 and keeps serving.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	info := infoFrom(r)
	id := ""
	if info != nil {
		id = info.RequestID
		info.Outcome = "panic"
	}
	s.log.Error("taskwire: handler panicked", append(logAttrs(r), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))...)
	switch t := w.(type) {
	case *auditWriter:
		if !t.restart() { // part of the response is out: cut the connection
			panic(http.ErrAbortHandler)
		}
		setSecurityHeaders(w.Header())
		w.Header().Set("X-Request-Id", id)
	case *startWriter:
		if t.started {
			panic(http.ErrAbortHandler)
		}
	}
	writeProblem(w, r, http.StatusInternalServerError, "internal error; the request id identifies it in the server's log")
}

// Slots of requestInfo.hdr: the security headers, X-Request-Id,
// Content-Type and Content-Length of a JSON or problem response, then
// RateLimit-Policy and RateLimit.
const (
	secHeaders = 5
	rateSlot   = secHeaders + 3
	hdrSlots   = rateSlot + 2
)

// securityHeaders are the headers every response carries. Their keys are
// canonical, so they are set without Header.Set's canonicalisation.
var securityHeaders = [secHeaders][2]string{
	{"X-Content-Type-Options", "nosniff"},
	{"Cache-Control", "no-store"},
	{"Content-Security-Policy", "frame-ancestors 'none'"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
}

// setSecurityHeaders sets the headers every response carries.
func setSecurityHeaders(h http.Header) { setSecurityHeadersIn(h, make([]string, secHeaders)) }

// setSecurityHeadersIn sets the headers every response carries, their
// values in vals (secHeaders long): one array instead of a slice per header.
func setSecurityHeadersIn(h http.Header, vals []string) {
	for i, kv := range securityHeaders {
		vals[i] = kv[1]
		h[kv[0]] = vals[i : i+1 : i+1]
	}
}

// peerAddr returns the address of the connection's peer.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the peer address, unless the peer is a trusted proxy: then the
// rightmost X-Forwarded-For entry that is not itself a trusted proxy.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !s.trusted(peer) {
		return peer
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer // a malformed chain is not believed past this point
			}
			a = a.Unmap()
			if !s.trusted(a) {
				return a
			}
		}
	}
	return peer
}

// tls reports whether the client's connection is HTTPS: TLS on this
// connection, or X-Forwarded-Proto: https from a trusted proxy.
func (s *Server) tls(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.trusted(peerAddr(r)) {
		return false
	}
	protos := r.Header.Values("X-Forwarded-Proto")
	if len(protos) != 1 {
		return false
	}
	parts := strings.Split(protos[0], ",")
	return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
}

var requestIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newRequestID returns a random request id (80 bits).
func newRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return requestIDEncoding.EncodeToString(b[:])
}
