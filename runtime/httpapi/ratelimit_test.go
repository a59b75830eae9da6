// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// The test keys (never to be found in an audit log).
const (
	secAdminKey  = "sk_test_admin_Qm9yZWFsaXMtYWRtaW4ta2V5LTAxMjM0NTY3"
	secViewerKey = "sk_test_viewer_Vmlld2VyLWtleS0wMTIzNDU2Nzg5YWJjZGVm"
)

func secEnv(name string) string {
	switch name {
	case "TASKWIRE_KEY_ADMIN_FULL":
		return secAdminKey
	case "TASKWIRE_KEY_VIEWER_REPORTS":
		return secViewerKey
	}
	return ""
}

// secClock is a manual clock, safe for concurrent use.
type secClock = testutil.Clock

func newSecClock() *secClock {
	return testutil.NewClockAt(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
}

type secTasks struct{}

func (secTasks) ProcessData(_ context.Context, data string) (securedemo.Result, error) {
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

func (secTasks) ValidateResult(_ context.Context, r securedemo.Result) (securedemo.Validated, error) {
	return securedemo.Validated{Processed: r.Processed, Status: string(r.Status), Validated: true}, nil
}

// secServer is the secure demo's server on a manual clock, its audit log in
// a temporary directory.
type secServer struct {
	srv       *httpapi.Server
	clock     *secClock
	auditFile string
	svc       httpapi.Service
}

// newSecServer builds the generated secure demo; edit changes its Service
// (rate limits, proxies) before the server is made.
func newSecServer(t *testing.T, edit func(*httpapi.Service), opts ...httpapi.Option) *secServer {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, secTasks{}); err != nil {
		t.Fatal(err)
	}
	svc := securedemo.Service()
	svc.Security.Audit.File = filepath.Join(t.TempDir(), "audit.jsonl")
	if edit != nil {
		edit(&svc)
	}
	clock := newSecClock()
	opts = append([]httpapi.Option{httpapi.WithGetenv(secEnv), httpapi.WithClock(clock.Now)}, opts...)
	srv, err := httpapi.New(testEngine(t, reg), svc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &secServer{srv: srv, clock: clock, auditFile: svc.Security.Audit.File, svc: svc}
}

// secSetRate sets the rate limit of the route with operation id op.
func secSetRate(t *testing.T, svc *httpapi.Service, op string, r httpapi.Rate) {
	t.Helper()
	l := *svc.Security.RateLimits
	l.Routes = maps.Clone(l.Routes)
	if l.Routes == nil {
		l.Routes = map[string]httpapi.Rate{}
	}
	l.Routes[op] = r
	svc.Security.RateLimits = &l
}

type secReq struct {
	method, path, body string
	key                string // X-API-Key, when set
	remote             string // RemoteAddr; 192.0.2.10:40000 by default
	header             http.Header
}

func (s *secServer) do(t *testing.T, q secReq) *httptest.ResponseRecorder {
	t.Helper()
	if q.method == "" {
		q.method = http.MethodGet
	}
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = "192.0.2.10:40000"
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	if q.key != "" {
		r.Header.Set("X-API-Key", q.key)
	}
	for k, vs := range q.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	s.srv.ServeHTTP(w, r)
	return w
}

func secWantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, what string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, w.Code, status, w.Body.String())
	}
}

// secCheckLimited checks a 429's headers and returns its Retry-After.
func secCheckLimited(t *testing.T, w *httptest.ResponseRecorder, op string, n, window int) int {
	t.Helper()
	secWantStatus(t, w, http.StatusTooManyRequests, op+" over its limit")
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q: want whole seconds, at least 1", w.Header().Get("Retry-After"))
	}
	if got, want := w.Header().Get("RateLimit-Policy"), fmt.Sprintf("%q;q=%d;w=%d", op, n, window); got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := w.Header().Get("RateLimit"), fmt.Sprintf("%q;r=0;t=%d", op, ra); got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("429 Content-Type %q", ct)
	}
	return ra
}

// secCheckPassed checks a successful response's RateLimit fields.
func secCheckPassed(t *testing.T, w *httptest.ResponseRecorder, status int, op string, n, window, remaining int) {
	t.Helper()
	secWantStatus(t, w, status, op)
	if got, want := w.Header().Get("RateLimit-Policy"), fmt.Sprintf("%q;q=%d;w=%d", op, n, window); got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	rl := w.Header().Get("RateLimit")
	if want := fmt.Sprintf("%q;r=%d;t=", op, remaining); !strings.HasPrefix(rl, want) {
		t.Errorf("RateLimit %q, want it to start with %q", rl, want)
	}
}

func TestRateLimitFivePerMinute(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) {
		secSetRate(t, svc, "list_pipelines", httpapi.Rate{N: 5, Per: time.Minute})
	})
	admin := secReq{path: "/pipelines", key: secAdminKey}
	for i := range 5 {
		secCheckPassed(t, s.do(t, admin), http.StatusOK, "list_pipelines", 5, 60, 4-i)
	}
	ra := secCheckLimited(t, s.do(t, admin), "list_pipelines", 5, 60)
	if ra != 12 {
		t.Errorf("Retry-After %d, want 12 (one token every 12 s)", ra)
	}

	// A second key has its own bucket.
	viewer := secReq{path: "/pipelines", key: secViewerKey}
	for i := range 5 {
		secCheckPassed(t, s.do(t, viewer), http.StatusOK, "list_pipelines", 5, 60, 4-i)
	}
	secCheckLimited(t, s.do(t, viewer), "list_pipelines", 5, 60)

	// The admin's bucket refills one token every 12 s: not before.
	s.clock.Advance(11 * time.Second)
	secCheckLimited(t, s.do(t, admin), "list_pipelines", 5, 60)
	s.clock.Advance(time.Second)
	secCheckPassed(t, s.do(t, admin), http.StatusOK, "list_pipelines", 5, 60, 0)
	secCheckLimited(t, s.do(t, admin), "list_pipelines", 5, 60)

	// Another route's bucket is separate.
	secCheckPassed(t, s.do(t, secReq{path: "/pipelines/secure_demo_pipeline", key: secAdminKey}), http.StatusOK, "get_pipeline", 60, 60, 59)

	// A full period refills the whole bucket, and no more.
	s.clock.Advance(time.Hour)
	for i := range 5 {
		secCheckPassed(t, s.do(t, admin), http.StatusOK, "list_pipelines", 5, 60, 4-i)
	}
	secCheckLimited(t, s.do(t, admin), "list_pipelines", 5, 60)
}

func TestRateLimitsOfTheGeneratedService(t *testing.T) {
	s := newSecServer(t, nil)
	limits := map[string]httpapi.Rate{}
	for _, rt := range s.srv.Routes() {
		if rt.Limit != nil {
			limits[rt.OperationID] = *rt.Limit
		}
	}
	// list_pipelines has its own limit in the spec's routes, execute the
	// pipeline's, get_run the spec's default.
	for op, want := range map[string]httpapi.Rate{
		"list_pipelines":               {N: 100, Per: time.Minute},
		"get_run":                      {N: 60, Per: time.Minute},
		"execute_secure_demo_pipeline": {N: 10, Per: time.Minute},
	} {
		if limits[op] != want {
			t.Fatalf("%s: generated limit %+v, want %+v", op, limits[op], want)
		}
	}

	cases := []struct {
		op     string
		q      secReq
		status int
		n      int
	}{
		{"list_pipelines", secReq{path: "/pipelines"}, http.StatusOK, 100},
		{"get_run", secReq{path: "/runs/r_missing"}, http.StatusNotFound, 60},
		{"execute_secure_demo_pipeline", secReq{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"hello"}`}, http.StatusAccepted, 10},
	}
	for _, c := range cases {
		c.q.key = secAdminKey
		for i := range c.n {
			w := s.do(t, c.q)
			secCheckPassed(t, w, c.status, c.op, c.n, 60, c.n-1-i)
		}
		secCheckLimited(t, s.do(t, c.q), c.op, c.n, 60)
		// The viewer's bucket of the same route is untouched.
		if c.op == "list_pipelines" {
			secCheckPassed(t, s.do(t, secReq{path: "/pipelines", key: secViewerKey}), http.StatusOK, c.op, c.n, 60, c.n-1)
		}
	}
	// Public routes without a limit of their own have the anonymous
	// limit of the client address.
	for range httpapi.DefaultAnonymousRate.N {
		secWantStatus(t, s.do(t, secReq{path: "/healthz"}), http.StatusOK, "healthz")
	}
	w := s.do(t, secReq{path: "/healthz"})
	secWantStatus(t, w, http.StatusTooManyRequests, "healthz past the anonymous limit")
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	s.clock.Advance(httpapi.DefaultAnonymousRate.Per)
	secWantStatus(t, s.do(t, secReq{path: "/healthz"}), http.StatusOK, "healthz a second later")
}

func TestRateLimitConcurrentExactlyN(t *testing.T) {
	s := newSecServer(t, nil) // get_pipeline: 60/minute
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/pipelines/secure_demo_pipeline", nil)
			req.Header.Set("X-API-Key", secAdminKey)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[http.StatusOK] != 60 || counts[http.StatusTooManyRequests] != 40 {
		t.Fatalf("statuses %v, want 60 × 200 and 40 × 429", counts)
	}
}

// secAddPing adds a public user route limited per client address.
func secAddPing(t *testing.T, s *secServer, r httpapi.Rate) {
	t.Helper()
	err := s.srv.Handle(httpapi.Route{Method: http.MethodGet, Path: "/ping", OperationID: "ping", Public: true, Limit: &r},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, r, http.StatusOK, map[string]string{"pong": "yes"})
		}))
	if err != nil {
		t.Fatal(err)
	}
}

func secRandomIP(rng *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
}

func TestRateLimitIgnoresForwardedForFromUntrustedPeer(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) { svc.Security.TrustedProxies = []string{"10.0.0.0/8"} })
	secAddPing(t, s, httpapi.Rate{N: 5, Per: time.Minute})
	rng := rand.New(rand.NewPCG(1, 2))
	ping := func() secReq {
		return secReq{path: "/ping", remote: "203.0.113.7:5555", header: http.Header{"X-Forwarded-For": {secRandomIP(rng) + ", " + secRandomIP(rng)}}}
	}
	for i := range 5 {
		secCheckPassed(t, s.do(t, ping()), http.StatusOK, "ping", 5, 60, 4-i)
	}
	for range 20 {
		secCheckLimited(t, s.do(t, ping()), "ping", 5, 60)
	}
	// The same holds for the failed-authentication budget.
	for i := range 20 {
		q := secReq{path: "/pipelines", key: fmt.Sprintf("sk_wrong_%040d", i), remote: "203.0.113.8:5555",
			header: http.Header{"X-Forwarded-For": {secRandomIP(rng)}}}
		w := s.do(t, q)
		if want := map[bool]int{true: 401, false: 429}[i < 10]; w.Code != want {
			t.Fatalf("bad key %d with a random X-Forwarded-For: %d, want %d", i+1, w.Code, want)
		}
	}
}

func TestRateLimitTrustedProxyClients(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) { svc.Security.TrustedProxies = []string{"10.0.0.0/8"} })
	secAddPing(t, s, httpapi.Rate{N: 5, Per: time.Minute})
	via := func(xff ...string) secReq {
		return secReq{path: "/ping", remote: "10.0.0.1:443", header: http.Header{"X-Forwarded-For": xff}}
	}
	// Client A behind two proxies: the rightmost untrusted entry is A.
	for i := range 5 {
		secCheckPassed(t, s.do(t, via("198.51.100.1, 10.0.0.2")), http.StatusOK, "ping", 5, 60, 4-i)
	}
	secCheckLimited(t, s.do(t, via("198.51.100.1, 10.0.0.2")), "ping", 5, 60)
	// A cannot escape by prepending addresses of its own (the proxy appends
	// the address it saw), nor by sending several headers.
	secCheckLimited(t, s.do(t, via("1.2.3.4, 198.51.100.1")), "ping", 5, 60)
	secCheckLimited(t, s.do(t, via("5.6.7.8", "198.51.100.1, 10.9.9.9")), "ping", 5, 60)
	// Client B, through the same proxy, has its own bucket.
	secCheckPassed(t, s.do(t, via("198.51.100.2")), http.StatusOK, "ping", 5, 60, 4)
	// The proxy's own requests (no X-Forwarded-For) are the proxy's bucket.
	secCheckPassed(t, s.do(t, secReq{path: "/ping", remote: "10.0.0.1:443"}), http.StatusOK, "ping", 5, 60, 4)
	// IPv6 clients are bucketed by /64.
	for i := range 5 {
		secCheckPassed(t, s.do(t, via(fmt.Sprintf("2001:db8:1:2::%x", i+1))), http.StatusOK, "ping", 5, 60, 4-i)
	}
	secCheckLimited(t, s.do(t, via("2001:db8:1:2:ffff::1")), "ping", 5, 60)
	secCheckPassed(t, s.do(t, via("2001:db8:1:3::1")), http.StatusOK, "ping", 5, 60, 4)
}

func TestRateLimitMemoryBoundedByMaxBuckets(t *testing.T) {
	const max = 1_000
	s := newSecServer(t, func(svc *httpapi.Service) { svc.Security.Audit.Enabled = false }, httpapi.WithMaxBuckets(max))
	secAddPing(t, s, httpapi.Rate{N: 5, Per: time.Minute})
	clients := 20_000
	if testing.Short() {
		clients = 3_000
	}
	for i := range clients {
		q := secReq{path: "/ping", remote: fmt.Sprintf("10.%d.%d.%d:1000", i>>16&0xff, i>>8&0xff, i&0xff)}
		if w := s.do(t, q); w.Code != http.StatusOK {
			t.Fatalf("client %d: %d", i, w.Code)
		}
		if i%500 == 0 && httpapi.BucketCount(s.srv) > max {
			t.Fatalf("after %d clients: %d buckets, over the cap of %d", i+1, httpapi.BucketCount(s.srv), max)
		}
	}
	if n := httpapi.BucketCount(s.srv); n > max || n < max/2 {
		t.Fatalf("%d buckets after %d clients, want at most %d (and the cap used)", n, clients, max)
	}
	// Idle buckets go: a minute later one new client sweeps them away.
	s.clock.Advance(time.Minute)
	s.do(t, secReq{path: "/ping", remote: "192.0.2.99:1"})
	if n := httpapi.BucketCount(s.srv); n != 1 {
		t.Fatalf("%d buckets after the idle ones expired, want 1", n)
	}
}

func TestRateLimitFailedAuthenticationBudget(t *testing.T) {
	s := newSecServer(t, nil)
	attacker := "198.51.100.66:31337"
	for i := range 20 {
		w := s.do(t, secReq{path: "/pipelines", key: fmt.Sprintf("sk_guess_%040d", i), remote: attacker})
		switch {
		case i < 10:
			secWantStatus(t, w, http.StatusUnauthorized, fmt.Sprintf("bad key %d", i+1))
		default:
			secWantStatus(t, w, http.StatusTooManyRequests, fmt.Sprintf("bad key %d", i+1))
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
			if w.Header().Get("WWW-Authenticate") != "" {
				t.Error("a throttled request was authenticated (it got a challenge)")
			}
		}
	}
	// A valid key from that address still works (TestLockoutSparesValidCredentials).
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey, remote: attacker}), http.StatusOK, "valid key from the throttled address")
	// A valid key from another address still works.
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey, remote: "192.0.2.20:1"}), http.StatusOK, "valid key elsewhere")
	// Requests without credentials are not failures.
	for range 15 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", remote: "192.0.2.21:1"}), http.StatusUnauthorized, "no key")
	}
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey, remote: "192.0.2.21:1"}), http.StatusOK, "valid key after missing ones")
	// 10/minute: one more guess every 6 s.
	s.clock.Advance(6 * time.Second)
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: "sk_guess_again_0000000000000000000000", remote: attacker}), http.StatusUnauthorized, "guess after 6 s")
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: "sk_guess_again_0000000000000000000001", remote: attacker}), http.StatusTooManyRequests, "second guess after 6 s")
}

func TestRateLimitAuthFailureLimitOption(t *testing.T) {
	s := newSecServer(t, nil, httpapi.WithAuthFailureLimit(httpapi.Rate{N: 3, Per: time.Hour}))
	for i := range 5 {
		w := s.do(t, secReq{path: "/runs", key: "sk_not_a_key_0000000000000000000000000", remote: "192.0.2.30:1"})
		if want := map[bool]int{true: 401, false: 429}[i < 3]; w.Code != want {
			t.Fatalf("guess %d: %d, want %d", i+1, w.Code, want)
		}
	}
}

// Buckets of client addresses and of principals are capped separately: a
// flood of addresses (failed authentications from 5,000 of them) evicts
// address buckets only, so a principal's spent bucket is not reset.
func TestRateLimitAddressFloodDoesNotResetPrincipals(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) {
		secSetRate(t, svc, "list_pipelines", httpapi.Rate{N: 5, Per: time.Minute})
		svc.Security.Audit.Enabled = false
	}, httpapi.WithMaxBuckets(100))
	for i := range 5 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusOK, fmt.Sprintf("request %d", i+1))
	}
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusTooManyRequests, "sixth request")
	for i := range 5000 {
		remote := fmt.Sprintf("198.18.%d.%d:1000", i/250, i%250+1)
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: "sk_wrong_key_0123456789abcdefghijklmnop", remote: remote}), http.StatusUnauthorized, "bad key")
	}
	if n := httpapi.BucketCount(s.srv); n > 200 {
		t.Fatalf("%d buckets, want at most 100 per kind", n)
	}
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusTooManyRequests, "after the flood the admin's bucket is still spent")
}
