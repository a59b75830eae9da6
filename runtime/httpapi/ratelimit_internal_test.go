// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BucketCount returns how many rate-limit buckets s keeps, for the
// package's external tests.
func BucketCount(s *Server) int { return s.limits.size() + s.addrLimits.size() }

var limT0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func TestLimiterBoundedUnderManyClients(t *testing.T) {
	const max = 10_000
	l := newLimiter(max)
	r := Rate{N: 5, Per: time.Minute}
	for i := range 100_000 {
		now := limT0.Add(time.Duration(i) * time.Microsecond) // all within one period: nothing is idle
		if ok, _, _, _ := l.take(fmt.Sprintf("list_pipelines|ip:10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff), r, now); !ok {
			t.Fatalf("client %d: a new bucket refused its first request", i)
		}
		if n := l.size(); n > max {
			t.Fatalf("after %d clients the limiter keeps %d buckets, over its cap of %d", i+1, n, max)
		}
	}
	if n, m := l.size(), l.lru.Len(); n != max || m != max {
		t.Fatalf("map %d, list %d buckets, want both %d", n, m, max)
	}
}

func TestLimiterDropsIdleBucketsFirst(t *testing.T) {
	l := newLimiter(100)
	r := Rate{N: 2, Per: time.Minute}
	for i := range 50 {
		l.take(fmt.Sprint("old", i), r, limT0)
	}
	// "hot" is emptied and used again later; the "old" ones go idle.
	l.take("hot", r, limT0)
	l.take("hot", r, limT0)
	if ok, _, _, _ := l.take("hot", r, limT0.Add(30*time.Second)); !ok {
		t.Fatal("hot should have one token back after 30 s at 2/minute")
	}
	// One period after the old buckets' last use, a new key sweeps them.
	later := limT0.Add(time.Minute)
	l.take("new", r, later)
	if n := l.size(); n != 2 {
		t.Fatalf("%d buckets after the sweep, want 2 (hot, new)", n)
	}
	// hot was not dropped: 30 s after it was emptied it has one token, not two.
	if ok, _, _, _ := l.take("hot", r, later); !ok {
		t.Fatal("hot should have one token back")
	}
	if ok, _, _, _ := l.take("hot", r, later); ok {
		t.Fatal("hot's bucket was reset by the sweep")
	}
}

func TestLimiterCapDropsLeastRecentlyUsed(t *testing.T) {
	l := newLimiter(3)
	r := Rate{N: 1, Per: time.Hour}
	l.take("a", r, limT0)
	l.take("b", r, limT0)
	l.take("c", r, limT0)
	l.take("a", r, limT0) // a is now the most recently used (and empty)
	l.take("d", r, limT0) // drops b
	if n := l.size(); n != 3 {
		t.Fatalf("%d buckets, want 3", n)
	}
	if ok, _, _, _ := l.take("a", r, limT0); ok {
		t.Fatal("a was dropped instead of the least recently used bucket")
	}
	if ok, _, _, _ := l.take("b", r, limT0); !ok {
		t.Fatal("b should have been dropped (and so start full)")
	}
}

func TestLimiterStateAndRetry(t *testing.T) {
	l := newLimiter(10)
	r := Rate{N: 5, Per: time.Minute}
	for i := range 5 {
		ok, remaining, _, reset := l.take("k", r, limT0)
		if !ok || remaining != 4-i {
			t.Fatalf("take %d: ok %v remaining %d", i+1, ok, remaining)
		}
		if want := time.Duration(i+1) * 12 * time.Second; reset != want {
			t.Errorf("take %d: reset %v, want %v", i+1, reset, want)
		}
	}
	ok, remaining, retry, _ := l.take("k", r, limT0)
	if ok || remaining != 0 || retry != 12*time.Second || ceilSeconds(retry) != 12 {
		t.Fatalf("sixth take: ok %v remaining %d retry %v", ok, remaining, retry)
	}
	if ok, _, _, _ := l.take("k", r, limT0.Add(12*time.Second-time.Millisecond)); ok {
		t.Fatal("a token came back before 12 s")
	}
	if ok, _, _, _ := l.take("k", r, limT0.Add(12*time.Second)); !ok {
		t.Fatal("no token after 12 s")
	}
	if ceilSeconds(time.Millisecond) != 1 || ceilSeconds(0) != 1 || ceilSeconds(1500*time.Millisecond) != 2 {
		t.Error("ceilSeconds must round up to whole seconds, at least 1")
	}
}

// The Retry-After the limiter announces is always enough, for any rate.
func TestLimiterRetryAfterIsEnough(t *testing.T) {
	for _, per := range []time.Duration{time.Second, time.Minute, time.Hour} {
		for n := 1; n <= 500; n++ {
			l := newLimiter(10)
			r := Rate{N: n, Per: per}
			for range n {
				l.take("k", r, limT0)
			}
			ok, _, retry, _ := l.take("k", r, limT0)
			if ok {
				t.Fatalf("%d/%v: bucket not empty after %d takes", n, per, n)
			}
			at := limT0.Add(time.Duration(ceilSeconds(retry)) * time.Second)
			if ok, _, _, _ := l.take("k", r, at); !ok {
				t.Fatalf("%d/%v: still limited after Retry-After %d s", n, per, ceilSeconds(retry))
			}
		}
	}
}

func TestLimiterConcurrentExact(t *testing.T) {
	l := newLimiter(10)
	r := Rate{N: 60, Per: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _, _, _ := l.take("k", r, limT0); ok {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if passed != 60 {
		t.Fatalf("%d passed, want 60", passed)
	}
}

func TestPeekDoesNotCreateBuckets(t *testing.T) {
	l := newLimiter(10)
	if ok, _ := l.peek("authfail|ip:192.0.2.1", DefaultAuthFailureRate, limT0); !ok || l.size() != 0 {
		t.Fatalf("peek of an unknown key: ok %v, %d buckets", ok, l.size())
	}
}

// A caller without a principal on a route that is public while security is
// on (a user route marked Public) reaches no pipeline, unlike the anonymous
// caller of a server without security.
func TestPublicRouteCallerReachesNoPipeline(t *testing.T) {
	s := &Server{svc: Service{Security: Security{Enabled: true}}, policy: policy{enabled: true}}
	p := s.principal(httptest.NewRequest(http.MethodGet, "/ping", nil))
	if p != nobody || s.policy.allowed(p, ActionRead, "secure_demo_pipeline") {
		t.Fatalf("a public route's caller is %+v", p)
	}
	open := &Server{}
	if p := open.principal(httptest.NewRequest(http.MethodGet, "/ping", nil)); p != anonymous || !open.policy.allowed(p, ActionRead, "secure_demo_pipeline") {
		t.Fatalf("without security the caller is %+v", p)
	}
}
