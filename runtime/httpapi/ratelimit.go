// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits of the rate limiter's memory.
const (
	// DefaultMaxBuckets caps how many buckets the limiter keeps; past it the
	// least recently used bucket is dropped.
	DefaultMaxBuckets = 100_000
)

// DefaultAuthFailureRate is how many failed authentications one client
// address may make before it is throttled (and refilled evenly over the
// period), so that keys cannot be guessed at speed.
var DefaultAuthFailureRate = Rate{N: 10, Per: time.Minute}

// limiter holds token buckets keyed by route and principal (or client
// address), with bounded memory: buckets idle long enough to be full again
// are dropped, and at most max are kept.
type limiter struct {
	mu      sync.Mutex
	max     int
	buckets map[string]*list.Element
	lru     *list.List // front: most recently used
}

type bucket struct {
	key     string
	lim     *rate.Limiter
	rate    Rate
	lastUse time.Time
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, buckets: map[string]*list.Element{}, lru: list.New()}
}

// take takes one token from the bucket of key (creating it full at rate r)
// and reports whether it could, with the tokens left and the time until the
// next token and until the bucket is full.
func (l *limiter) take(key string, r Rate, now time.Time) (ok bool, remaining int, retry, reset time.Duration) {
	return l.takeKey([]byte(key), r, now)
}

// takeKey is take for a key built in a buffer: finding an existing bucket
// allocates nothing.
func (l *limiter) takeKey(key []byte, r Rate, now time.Time) (ok bool, remaining int, retry, reset time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, r, now)
	ok = b.lim.AllowN(now, 1)
	remaining, retry, reset = b.state(now)
	return ok, remaining, retry, reset
}

// peek reports whether the bucket of key has a token, without taking it.
func (l *limiter) peek(key string, r Rate, now time.Time) (ok bool, retry time.Duration) {
	return l.peekKey([]byte(key), r, now)
}

// peekKey is peek for a key built in a buffer; it allocates nothing.
func (l *limiter) peekKey(key []byte, r Rate, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.buckets[string(key)]
	if !found {
		return true, 0
	}
	b := el.Value.(*bucket)
	_, retry, _ = b.state(now)
	return b.lim.TokensAt(now) >= 1, retry
}

// bucket finds or makes the bucket of key; l.mu is held.
func (l *limiter) bucket(key []byte, r Rate, now time.Time) *bucket {
	if el, found := l.buckets[string(key)]; found {
		b := el.Value.(*bucket)
		l.lru.MoveToFront(el)
		b.lastUse = now
		return b
	}
	l.evict(now)
	b := &bucket{key: string(key), rate: r, lastUse: now, lim: rate.NewLimiter(rate.Every(r.Per/time.Duration(r.N)), r.N)}
	b.lim.SetBurstAt(now, r.N) // full at creation, on the caller's clock
	l.buckets[b.key] = l.lru.PushFront(b)
	return b
}

// evict drops the least recently used buckets while they have been idle
// long enough to be full again (such a bucket is equivalent to a new one),
// then, while the limiter is still at its cap, the least recently used one
// whatever its state; l.mu is held.
func (l *limiter) evict(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		if b := el.Value.(*bucket); now.Sub(b.lastUse) < b.rate.Per {
			break
		}
		l.drop(el)
	}
	for len(l.buckets) >= l.max {
		l.drop(l.lru.Back())
	}
}

func (l *limiter) drop(el *list.Element) {
	l.lru.Remove(el)
	delete(l.buckets, el.Value.(*bucket).key)
}

// size returns the number of buckets kept.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// state returns the whole tokens left, the wait for the next token and the
// wait until the bucket is full.
func (b *bucket) state(now time.Time) (remaining int, retry, reset time.Duration) {
	tokens := b.lim.TokensAt(now)
	per := b.rate.Per / time.Duration(b.rate.N)
	remaining = int(math.Floor(max(tokens, 0)))
	if tokens < 1 {
		retry = time.Duration((1 - tokens) * float64(per))
	}
	if missing := float64(b.rate.N) - tokens; missing > 0 {
		reset = time.Duration(missing * float64(per))
	}
	return remaining, retry, reset
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// appendRateKey appends whose bucket a request takes from: the principal,
// or the client address (an IPv6 client by its /64, which one host usually
// owns).
func appendRateKey(dst []byte, p *Principal, ip netip.Addr) []byte {
	if p != nil && p.ID != "" {
		dst = append(append(dst, p.Method...), ':')
		return append(dst, p.ID...)
	}
	dst = append(dst, "ip:"...)
	if ip.Is6() {
		pfx, _ := ip.Prefix(64)
		return pfx.AppendTo(dst)
	}
	return ip.AppendTo(dst)
}

// maxKeyOnStack is the size of the buffer rate-limit keys are built in;
// longer keys (long principal ids) go to the heap.
const maxKeyOnStack = 128

// policyName is the name of a route's limit in the RateLimit fields.
func policyName(rt *Route) string { return strconv.Quote(rt.OperationID) }

// limit applies a route's rate limit to a request; it answers 429 and
// returns false when the bucket is empty. Successful responses carry the
// RateLimit field.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, rt *Route, p *Principal) bool {
	if rt.Limit == nil || !s.svc.Security.Enabled {
		return true
	}
	var kb [maxKeyOnStack]byte
	key := append(append(kb[:0], rt.OperationID...), '|')
	key = appendRateKey(key, p, s.clientAddr(r))
	lim := s.limits
	if p == nil || p.ID == "" {
		lim = s.addrLimits // buckets of client addresses: a flood of them cannot evict principals' buckets
	}
	ok, remaining, retry, reset := lim.takeKey(key, *rt.Limit, s.now())
	pol := policyOf(r, rt)
	h := w.Header()
	if ok {
		v := append(append(kb[:0], pol.name...), ";r="...)
		v = strconv.AppendInt(v, int64(remaining), 10)
		v = strconv.AppendInt(append(v, ";t="...), int64(ceilSecondsOrZero(reset)), 10)
		setRateHeaders(h, r, pol.header, string(v))
		return true
	}
	wait := ceilSeconds(retry)
	h.Set("Retry-After", strconv.Itoa(wait))
	setRateHeaders(h, r, pol.header, fmt.Sprintf("%s;r=0;t=%d", pol.name, wait))
	writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("rate limit of %d requests per %s exceeded; retry in %d s", rt.Limit.N, rt.Limit.Per, wait))
	return false
}

func ceilSecondsOrZero(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return ceilSeconds(d)
}

// authThrottled reports whether the client address has used up its failed
// authentications, and how long until it may fail again.
func (s *Server) authThrottled(r *http.Request) (time.Duration, bool) {
	var kb [maxKeyOnStack]byte
	ok, retry := s.addrLimits.peekKey(s.appendAuthFailureKey(kb[:0], r), s.authFailures, s.now())
	return retry, !ok
}

// throttle answers 429 to a request from an address past its
// failed-authentication budget.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	wait := ceilSeconds(retry)
	w.Header().Set("Retry-After", strconv.Itoa(wait))
	writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentications from this address; retry in %d s", wait))
}

// authFailed charges a failed authentication to the client address.
func (s *Server) authFailed(r *http.Request) {
	s.addrLimits.take(s.authFailureKey(r), s.authFailures, s.now())
}

func (s *Server) authFailureKey(r *http.Request) string {
	var kb [maxKeyOnStack]byte
	return string(s.appendAuthFailureKey(kb[:0], r))
}

func (s *Server) appendAuthFailureKey(dst []byte, r *http.Request) []byte {
	return appendRateKey(append(dst, "authfail|"...), nil, s.clientAddr(r))
}

// clientAddr is the client address the chain found, or clientIP's.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	if info := infoFrom(r); info != nil && info.addr.IsValid() {
		return info.addr
	}
	return s.clientIP(r)
}

// routePolicy is a route's RateLimit-Policy value and quoted policy name,
// made once per route by the chain.
type routePolicy struct{ header, name string }

func newRoutePolicy(rt *Route) *routePolicy {
	if rt.Limit == nil {
		return nil
	}
	name := policyName(rt)
	return &routePolicy{header: fmt.Sprintf("%s;q=%d;w=%d", name, rt.Limit.N, ceilSeconds(rt.Limit.Per)), name: name}
}

// policyOf returns the route's policy, made by the chain when it serves r.
func policyOf(r *http.Request, rt *Route) *routePolicy {
	if info := infoFrom(r); info != nil && info.policy != nil {
		return info.policy
	}
	return newRoutePolicy(rt)
}

// setRateHeaders sets RateLimit-Policy and RateLimit, their values in the
// request's header array when the chain serves it.
func setRateHeaders(h http.Header, r *http.Request, policy, state string) {
	info := infoFrom(r)
	if info == nil {
		h.Set("RateLimit-Policy", policy)
		h.Set("RateLimit", state)
		return
	}
	v := info.hdr[rateSlot : rateSlot+2]
	v[0], v[1] = policy, state
	h["Ratelimit-Policy"], h["Ratelimit"] = v[0:1:1], v[1:2:2]
}
