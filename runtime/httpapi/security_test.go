// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// Keys and secrets of the test environment (each at least 32 characters).
const (
	adminKey  = "sk_admin_0123456789abcdefghijklmnopqrstuv"
	viewerKey = "sk_viewer_0123456789abcdefghijklmnopqrstu"
	readerKey = "sk_reader_0123456789abcdefghijklmnopqrstu"
	jwtSecret = "jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz"
)

var testEnv = map[string]string{
	"TASKWIRE_KEY_ADMIN_FULL":     adminKey,
	"TASKWIRE_KEY_VIEWER_REPORTS": viewerKey,
	"TASKWIRE_KEY_READER":         readerKey,
	"JWT_SECRET":                  jwtSecret,
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// clock is a settable clock for key expiry, tokens and rate limits.
type clock = testutil.Clock

func newClock() *clock { return testutil.NewClockAt(time.Now().Truncate(time.Second)) }

// tasks implements securedemo.Tasks like the example; with gate set,
// ProcessData waits for it (or for cancellation) first.
type tasks struct {
	gate chan struct{}
}

func (t *tasks) ProcessData(ctx context.Context, data string) (securedemo.Result, error) {
	if t.gate != nil {
		select {
		case <-t.gate:
		case <-ctx.Done():
			return securedemo.Result{}, ctx.Err()
		}
	}
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

func (t *tasks) ValidateResult(ctx context.Context, r securedemo.Result) (securedemo.Validated, error) {
	return securedemo.Validated{Processed: r.Processed, Status: string(r.Status), Validated: true}, nil
}

// fixture is a generated securedemo server behind a real HTTP listener.
type fixture struct {
	t     *testing.T
	srv   *httpapi.Server
	ts    *httptest.Server
	clock *clock
	impl  *tasks
	svc   httpapi.Service
	hc    *http.Client // when set, the client of requests (default: the httptest server's)
}

type setup struct {
	svc    func(*httpapi.Service)
	reg    func(*runtime.Registry)
	opts   []httpapi.Option
	gate   bool
	tls    bool
	noWrap bool // do not start an httptest server
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testService is the generated descriptor with audit off and a read-only
// "reader" key (role viewer, every pipeline) added.
func testService() httpapi.Service {
	svc := securedemo.Service()
	svc.Security.Audit.Enabled = false
	svc.Security.Keys = append(svc.Security.Keys, httpapi.Key{ID: "reader_all", Env: "TASKWIRE_KEY_READER", Role: "viewer", Pipelines: []string{"*"}})
	return svc
}

// grantAllRuns is a setup.svc that grants all_runs on every pipeline to
// roles, so that they see the runs other principals start.
func grantAllRuns(roles ...string) func(*httpapi.Service) {
	return func(s *httpapi.Service) {
		s.Security.ACLs = append(s.Security.ACLs, httpapi.ACL{Pattern: "*", AllRuns: roles})
	}
}

func newFixture(t *testing.T, st setup) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), impl: &tasks{}}
	if st.gate {
		f.impl.gate = make(chan struct{})
	}
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, f.impl); err != nil {
		t.Fatal(err)
	}
	if st.reg != nil {
		st.reg(reg)
	}
	svc := testService()
	if st.svc != nil {
		st.svc(&svc)
	}
	f.svc = svc
	opts := append([]httpapi.Option{
		httpapi.WithGetenv(getenvFrom(testEnv)),
		httpapi.WithClock(f.clock.Now),
		httpapi.WithLogger(quietLog),
		httpapi.WithAuthFailureLimit(httpapi.Rate{N: 1 << 20, Per: time.Minute}),
	}, st.opts...)
	srv, err := httpapi.New(testEngine(t, reg), svc, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.srv = srv
	t.Cleanup(func() {
		f.release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if !st.noWrap {
		if st.tls {
			f.ts = httptest.NewTLSServer(srv)
		} else {
			f.ts = httptest.NewServer(srv)
		}
		t.Cleanup(f.ts.Close)
	}
	return f
}

var releaseMu sync.Mutex

// release lets blocked tasks finish (once).
func (f *fixture) release() {
	releaseMu.Lock()
	defer releaseMu.Unlock()
	if f.impl.gate != nil {
		select {
		case <-f.impl.gate:
		default:
			close(f.impl.gate)
		}
	}
}

// client does not follow redirects, so that a redirect is seen as one.
func (f *fixture) client() *http.Client {
	if f.hc != nil {
		return f.hc
	}
	c := f.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
}

func (r response) problem(t testing.TB) httpapi.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %s)", ct, r.Body)
	}
	var p httpapi.Problem
	r.json(t, &p)
	if p.Status != r.Status || p.Title == "" || p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-Id") {
		t.Fatalf("problem %+v does not match status %d / request id %q", p, r.Status, r.Header.Get("X-Request-Id"))
	}
	return p
}

// req is one request: method, path, body and headers ("Name: value" pairs,
// repeated names give repeated headers).
type req struct {
	method  string
	path    string
	body    string
	headers []string
}

func key(k string) string { return "X-API-Key: " + k }

func bearer(tok string) string { return "Authorization: Bearer " + tok }

func (f *fixture) newRequest(t testing.TB, q req) *http.Request {
	t.Helper()
	if q.method == "" {
		q.method = http.MethodGet
	}
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequest(q.method, f.ts.URL+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, h := range q.headers {
		name, value, _ := strings.Cut(h, ": ")
		r.Header.Add(name, value)
	}
	return r
}

// do sends q over HTTP and checks the headers every response carries.
func (f *fixture) do(t testing.TB, q req) response {
	t.Helper()
	resp, err := f.client().Do(f.newRequest(t, q))
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	checkSecurityHeaders(t, q.method+" "+q.path, resp.Header)
	return out
}

// serve sends r through srv.ServeHTTP in process.
func (f *fixture) serve(t testing.TB, r *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, r)
	checkSecurityHeaders(t, r.Method+" "+r.URL.Path, rec.Header())
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func checkSecurityHeaders(t testing.TB, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q, want frame-ancestors 'none'", what, csp)
	}
	if h.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id", what)
	}
}

func (f *fixture) want(t testing.TB, q req, status int) response {
	t.Helper()
	r := f.do(t, q)
	if r.Status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", q.method, q.path, r.Status, status, r.Body)
	}
	return r
}

// execute starts a run as admin and returns its id.
func (f *fixture) execute(t testing.TB, data string) string {
	t.Helper()
	r := f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"` + data + `"}`, headers: []string{key(adminKey)}}, http.StatusAccepted)
	var v struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	r.json(t, &v)
	if v.RunID == "" || r.Header.Get("Location") != "/runs/"+v.RunID {
		t.Fatalf("execute answered %s, Location %q", r.Body, r.Header.Get("Location"))
	}
	return v.RunID
}

// pipelines returns the ids GET /pipelines lists for the headers.
func (f *fixture) pipelines(t testing.TB, headers ...string) []string {
	t.Helper()
	var v struct {
		Pipelines []string `json:"pipelines"`
	}
	f.want(t, req{path: "/pipelines", headers: headers}, http.StatusOK).json(t, &v)
	if v.Pipelines == nil {
		t.Fatalf("pipelines is null, want a list")
	}
	return v.Pipelines
}

// ---------------------------------------------------------------- authentication

func TestAuthentication(t *testing.T) {
	f := newFixture(t, setup{})
	t.Run("no credentials is 401 Not authenticated with WWW-Authenticate", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines"}, http.StatusUnauthorized)
		if p := r.problem(t); p.Detail != "Not authenticated" {
			t.Errorf("detail %q, want exactly %q", p.Detail, "Not authenticated")
		}
		if ch := r.Header.Values("WWW-Authenticate"); len(ch) == 0 || !strings.Contains(ch[0], "X-API-Key") {
			t.Errorf("WWW-Authenticate = %q", ch)
		}
	})
	t.Run("unknown key is 401", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines", headers: []string{key("sk_unknown_0123456789abcdefghijklmnopqrst")}}, http.StatusUnauthorized)
		if p := r.problem(t); p.Detail == "Not authenticated" || strings.Contains(string(r.Body), "sk_unknown") {
			t.Errorf("detail %q (must name a bad key, never echo it)", p.Detail)
		}
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate on a bad key")
		}
	})
	t.Run("key that is a prefix of a real key is 401", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey[:len(adminKey)-1])}}, http.StatusUnauthorized)
	})
	t.Run("key in the query string is not accepted", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines?api_key=" + adminKey}, http.StatusUnauthorized)
		if p := r.problem(t); p.Detail != "Not authenticated" {
			t.Errorf("detail %q", p.Detail)
		}
	})
	t.Run("key in the Authorization header is not accepted", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{"Authorization: ApiKey " + adminKey}}, http.StatusUnauthorized)
		f.want(t, req{path: "/pipelines", headers: []string{bearer(adminKey)}}, http.StatusUnauthorized)
	})
	t.Run("two X-API-Key headers are rejected", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), key(adminKey)}}, http.StatusUnauthorized)
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), key(viewerKey)}}, http.StatusUnauthorized)
	})
	t.Run("key with a non-HTTP white space around it is rejected", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key("\u00a0" + adminKey)}}, http.StatusUnauthorized)
	})
	t.Run("valid key is 200", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusOK)
	})
}

func TestExpiredKey(t *testing.T) {
	expires := time.Now().Add(time.Hour)
	f := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security.Keys[0].Expires = expires }})
	t.Run("before expiry 200", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusOK)
	})
	t.Run("after expiry 401", func(t *testing.T) {
		f.clock.Advance(2 * time.Hour)
		r := f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusUnauthorized)
		if p := r.problem(t); !strings.Contains(p.Detail, "expired") {
			t.Errorf("detail %q", p.Detail)
		}
	})
}

// TestEveryRouteNeedsCredentials walks the route table: every route but the
// public health check answers 401 without credentials.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	f := newFixture(t, setup{})
	paths := strings.NewReplacer("{pipeline_id}", "secure_demo_pipeline", "{run_id}", "r_missing", "{file}", "console.js", "{dead_letter_id}", "dl_missing")
	routes := f.srv.Routes()
	if len(routes) < 11 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	for _, rt := range routes {
		path := paths.Replace(rt.Path)
		t.Run(rt.OperationID, func(t *testing.T) {
			if strings.Contains(path, "{") {
				t.Fatalf("unsubstituted wildcard in %s", path)
			}
			if rt.Public {
				// Health, and the console's page and files (which hold no data).
				if rt.Path != "/healthz" && !strings.HasPrefix(rt.Path, "/ui/") {
					t.Fatalf("route %s %s is public", rt.Method, rt.Path)
				}
				f.want(t, req{method: rt.Method, path: path}, http.StatusOK)
				return
			}
			r := f.want(t, req{method: rt.Method, path: path, body: "{}"}, http.StatusUnauthorized)
			if p := r.problem(t); p.Detail != "Not authenticated" {
				t.Errorf("detail %q", p.Detail)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
}

// ---------------------------------------------------------------- routing

func TestRouting(t *testing.T) {
	f := newFixture(t, setup{})
	t.Run("wrong method is 405 with Allow", func(t *testing.T) {
		r := f.want(t, req{method: "DELETE", path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusMethodNotAllowed)
		r.problem(t)
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("Allow = %q", allow)
		}
		r = f.want(t, req{method: "GET", path: "/pipelines/secure_demo_pipeline/execute"}, http.StatusMethodNotAllowed)
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "POST") {
			t.Errorf("Allow = %q", allow)
		}
	})
	t.Run("unknown path is 404 problem+json", func(t *testing.T) {
		f.want(t, req{path: "/nope", headers: []string{key(adminKey)}}, http.StatusNotFound).problem(t)
		f.want(t, req{path: "/pipelines/secure_demo_pipeline/execute/more"}, http.StatusNotFound).problem(t)
	})
	t.Run("non-canonical paths are not redirected around the chain", func(t *testing.T) {
		for _, p := range []string{"/runs/../pipelines", "//pipelines", "/pipelines/./secure_demo_pipeline"} {
			r := f.do(t, req{path: p})
			if r.Status >= 300 && r.Status < 400 {
				t.Errorf("%s: redirect %d to %q outside the middleware chain", p, r.Status, r.Header.Get("Location"))
				continue
			}
			if r.Status != http.StatusNotFound && r.Status != http.StatusUnauthorized {
				t.Errorf("%s: status %d", p, r.Status)
			}
			r.problem(t)
		}
	})
	t.Run("health is public", func(t *testing.T) {
		r := f.want(t, req{path: "/healthz"}, http.StatusOK)
		if string(r.Body) != "{\"status\":\"ok\"}\n" {
			t.Errorf("body %q", r.Body)
		}
	})
}

// ---------------------------------------------------------------- authorisation

// reportsService adds pipelines (running the demo's tasks) to the service,
// so that the viewer's report_* pattern has something to match.
func reportsSetup(ids ...string) setup {
	return setup{
		reg: func(reg *runtime.Registry) {
			demo, _ := reg.Pipeline("secure_demo_pipeline")
			for _, id := range ids {
				p := demo
				p.ID = id
				if err := reg.RegisterPipeline(p); err != nil {
					panic(err)
				}
			}
		},
	}
}

func TestPipelinePatterns(t *testing.T) {
	others := []string{"reports_daily", "Report_daily", "xreport_a", "report"}
	f := newFixture(t, reportsSetup(append([]string{"report_daily"}, others...)...))
	t.Run("viewer lists only report_daily", func(t *testing.T) {
		got := f.pipelines(t, key(viewerKey))
		if len(got) != 1 || got[0] != "report_daily" {
			t.Errorf("viewer lists %q, want [report_daily]", got)
		}
	})
	t.Run("viewer reads report_daily", func(t *testing.T) {
		f.want(t, req{path: "/pipelines/report_daily", headers: []string{key(viewerKey)}}, http.StatusOK)
	})
	for _, id := range others {
		t.Run("viewer may not read "+id, func(t *testing.T) {
			f.want(t, req{path: "/pipelines/" + id, headers: []string{key(viewerKey)}}, http.StatusForbidden).problem(t)
		})
	}
	t.Run("viewer may not execute report_daily (ACL)", func(t *testing.T) {
		f.want(t, req{method: "POST", path: "/pipelines/report_daily/execute", body: `{"data":"x"}`, headers: []string{key(viewerKey)}}, http.StatusForbidden)
	})
	t.Run("admin lists all", func(t *testing.T) {
		if got := f.pipelines(t, key(adminKey)); len(got) != 6 {
			t.Errorf("admin lists %q", got)
		}
	})
}

func TestAccessControl(t *testing.T) {
	f := newFixture(t, setup{gate: true})
	viewer := []string{key(viewerKey)}
	t.Run("viewer may not execute the admin pipeline", func(t *testing.T) {
		r := f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: viewer}, http.StatusForbidden)
		r.problem(t)
	})
	t.Run("viewer may not read the admin pipeline", func(t *testing.T) {
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: viewer}, http.StatusForbidden).problem(t)
		f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph", headers: viewer}, http.StatusForbidden).problem(t)
	})
	t.Run("lists are filtered", func(t *testing.T) {
		if got := f.pipelines(t, key(adminKey)); len(got) != 1 || got[0] != "secure_demo_pipeline" {
			t.Errorf("admin lists %q", got)
		}
		if got := f.pipelines(t, viewer...); len(got) != 0 {
			t.Errorf("viewer lists %q, want []", got)
		}
	})

	runID := f.execute(t, "hello")
	t.Run("runs list filtered for the viewer", func(t *testing.T) {
		var admin, view struct {
			Runs []struct {
				RunID string `json:"run_id"`
			} `json:"runs"`
		}
		f.want(t, req{path: "/runs", headers: []string{key(adminKey)}}, http.StatusOK).json(t, &admin)
		if len(admin.Runs) != 1 || admin.Runs[0].RunID != runID {
			t.Errorf("admin sees %+v", admin.Runs)
		}
		r := f.want(t, req{path: "/runs", headers: viewer}, http.StatusOK)
		r.json(t, &view)
		if view.Runs == nil || len(view.Runs) != 0 || strings.Contains(string(r.Body), runID) {
			t.Errorf("viewer sees %s", r.Body)
		}
		f.want(t, req{path: "/runs?pipeline_id=secure_demo_pipeline", headers: viewer}, http.StatusForbidden)
	})
	t.Run("another's run is 404 exactly like a missing one", func(t *testing.T) {
		hidden := f.want(t, req{path: "/runs/" + runID, headers: viewer}, http.StatusNotFound)
		missing := f.want(t, req{path: "/runs/r_does_not_exist", headers: viewer}, http.StatusNotFound)
		ph, pm := hidden.problem(t), missing.problem(t)
		ph.RequestID, pm.RequestID = "", ""
		if fmt.Sprint(ph) != fmt.Sprint(pm) {
			t.Errorf("hidden run %+v, missing run %+v", ph, pm)
		}
		if len(hidden.Body) != len(missing.Body) {
			t.Errorf("body lengths differ: %s / %s", hidden.Body, missing.Body)
		}
		for _, p := range []string{"/runs/" + runID + "/events"} {
			f.want(t, req{path: p, headers: viewer}, http.StatusNotFound)
		}
		f.want(t, req{method: "POST", path: "/runs/" + runID + "/cancel", headers: viewer}, http.StatusNotFound)
	})
	t.Run("another principal's run is 404 without all_runs", func(t *testing.T) {
		// The reader may read the pipeline, but the run is the admin's.
		f.want(t, req{path: "/runs/" + runID, headers: []string{key(readerKey)}}, http.StatusNotFound)
		f.want(t, req{method: "POST", path: "/runs/" + runID + "/cancel", headers: []string{key(readerKey)}}, http.StatusNotFound)
	})
	t.Run("read but not write cannot cancel", func(t *testing.T) {
		g := newFixture(t, setup{gate: true, svc: grantAllRuns("viewer")})
		id := g.execute(t, "hello")
		g.want(t, req{path: "/runs/" + id, headers: []string{key(readerKey)}}, http.StatusOK)
		g.want(t, req{method: "POST", path: "/runs/" + id + "/cancel", headers: []string{key(readerKey)}}, http.StatusForbidden).problem(t)
	})
	t.Run("admin cancels, then 409", func(t *testing.T) {
		var v struct {
			Status string `json:"status"`
		}
		f.want(t, req{method: "POST", path: "/runs/" + runID + "/cancel", headers: []string{key(adminKey)}}, http.StatusOK).json(t, &v)
		if v.Status != "cancelled" {
			t.Errorf("status %q", v.Status)
		}
		f.want(t, req{method: "POST", path: "/runs/" + runID + "/cancel", headers: []string{key(adminKey)}}, http.StatusConflict)
	})
}

// ---------------------------------------------------------------- request bodies

// TestStrictRequestParameters: a JSON body in a charset other than UTF-8
// is 415, and ?wait= must lie between MinWait and MaxWait.
func TestStrictRequestParameters(t *testing.T) {
	f := newFixture(t, setup{svc: unlimited})
	admin := []string{key(adminKey)}
	exec := "/pipelines/secure_demo_pipeline/execute"
	t.Run("a charset other than UTF-8 is 415", func(t *testing.T) {
		for _, ct := range []string{"application/json; charset=utf-16", "application/json; charset=iso-8859-1"} {
			r := f.newRequest(t, req{method: "POST", path: exec, body: `{"data":"x"}`, headers: admin})
			r.Header.Set("Content-Type", ct)
			resp, err := f.client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("%s: status %d", ct, resp.StatusCode)
			}
		}
		r := f.newRequest(t, req{method: "POST", path: exec, body: `{"data":"x"}`, headers: admin})
		r.Header.Set("Content-Type", "application/json; charset=UTF-8")
		resp, err := f.client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("charset=UTF-8: status %d", resp.StatusCode)
		}
	})
	t.Run("a wait under 1ms is 400", func(t *testing.T) {
		for _, wait := range []string{"1ns", "999us", "0s", "-1s", "2m"} {
			p := f.want(t, req{method: "POST", path: exec + "?wait=" + wait, body: `{"data":"x"}`, headers: admin}, http.StatusBadRequest).problem(t)
			if !strings.Contains(p.Detail, "between 1ms and 1m0s") {
				t.Errorf("wait=%s: %q", wait, p.Detail)
			}
		}
	})
}

func TestBodies(t *testing.T) {
	f := newFixture(t, setup{opts: []httpapi.Option{httpapi.WithMaxBodyBytes(64 << 10)}})
	admin := []string{key(adminKey)}
	exec := "/pipelines/secure_demo_pipeline/execute"
	t.Run("body over the limit is 413", func(t *testing.T) {
		big := `{"data":"` + strings.Repeat("a", 100<<10) + `"}`
		f.want(t, req{method: "POST", path: exec, body: big, headers: admin}, http.StatusRequestEntityTooLarge).problem(t)
	})
	t.Run("unknown field is 400 naming it", func(t *testing.T) {
		p := f.want(t, req{method: "POST", path: exec, body: `{"data":"x","admin":true}`, headers: admin}, http.StatusBadRequest).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Path != "admin" {
			t.Errorf("errors %+v", p.Errors)
		}
	})
	t.Run("malformed JSON is 400", func(t *testing.T) {
		f.want(t, req{method: "POST", path: exec, body: `{"data":`, headers: admin}, http.StatusBadRequest).problem(t)
	})
	t.Run("constraint violation is 422", func(t *testing.T) {
		f.want(t, req{method: "POST", path: exec, body: `{"data":"` + strings.Repeat("a", 10001) + `"}`, headers: admin}, http.StatusUnprocessableEntity).problem(t)
	})
	t.Run("wrong content type is 415", func(t *testing.T) {
		r := f.newRequest(t, req{method: "POST", path: exec, body: `{"data":"x"}`, headers: admin})
		r.Header.Set("Content-Type", "text/plain")
		resp, err := f.client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("valid body waits for the run", func(t *testing.T) {
		var run struct {
			Status  string `json:"status"`
			Outputs struct {
				Validated struct{ Processed string } `json:"validated"`
			} `json:"outputs"`
		}
		f.want(t, req{method: "POST", path: exec + "?wait=10s", body: `{"data":"hello"}`, headers: admin}, http.StatusOK).json(t, &run)
		if run.Status != "succeeded" || run.Outputs.Validated.Processed != "HELLO" {
			t.Errorf("run %+v", run)
		}
	})
}

func TestDefaultBodyLimit(t *testing.T) {
	f := newFixture(t, setup{})
	big := `{"data":"` + strings.Repeat("a", httpapi.DefaultMaxBodyBytes) + `"}`
	f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: big, headers: []string{key(adminKey)}}, http.StatusRequestEntityTooLarge)
}

// ---------------------------------------------------------------- panics

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t, setup{noWrap: true})
	err := f.srv.Handle(httpapi.Route{Method: "GET", Path: "/boom", OperationID: "boom"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	for i := range 3 {
		t.Run(fmt.Sprint("panic ", i), func(t *testing.T) {
			r := f.want(t, req{path: "/boom", headers: []string{key(adminKey)}}, http.StatusInternalServerError)
			if p := r.problem(t); strings.Contains(p.Detail, "boom") {
				t.Errorf("detail leaks the panic: %q", p.Detail)
			}
			f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusOK)
		})
	}
	t.Run("user route still needs credentials", func(t *testing.T) {
		f.want(t, req{path: "/boom"}, http.StatusUnauthorized)
	})
}

// ---------------------------------------------------------------- JWT

const (
	issuer   = "https://auth.example.com"
	audience = "taskwire"
)

func jwtConfig(alg, keyFile string) *httpapi.JWT {
	c := &httpapi.JWT{Algorithm: alg, Issuer: issuer, Audience: audience, Leeway: 30 * time.Second}
	if strings.HasPrefix(alg, "HS") {
		c.SecretEnv = "JWT_SECRET"
	} else {
		c.PublicKeyFile = keyFile
	}
	return c
}

func jwtOnly(cfg *httpapi.JWT) func(*httpapi.Service) {
	return func(s *httpapi.Service) {
		s.Security.APIKey = false
		s.Security.JWT = true
		s.Security.JWTConfig = cfg
	}
}

// claims are the claims of a good token at now; edit them to break it.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "alice", "iss": issuer, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"role": "admin", "pipelines": []string{"*"},
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writePEM writes a public key to a PEM file and returns its path.
func writePEM(t testing.TB, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "public.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func TestJWTHS256(t *testing.T) {
	f := newFixture(t, setup{svc: jwtOnly(jwtConfig("HS256", ""))})
	secret := []byte(jwtSecret)
	now := f.clock.Now()
	good := func(edit func(jwt.MapClaims)) string {
		c := claims(now)
		if edit != nil {
			edit(c)
		}
		return sign(t, jwt.SigningMethodHS256, secret, c)
	}
	ok := func(t *testing.T, tok string) {
		t.Helper()
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(tok)}}, http.StatusOK)
	}
	reject := func(t *testing.T, tok, detail string) {
		t.Helper()
		r := f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(tok)}}, http.StatusUnauthorized)
		p := r.problem(t)
		if !strings.Contains(p.Detail, detail) {
			t.Errorf("detail %q, want it to mention %q", p.Detail, detail)
		}
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}

	t.Run("no credentials", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines"}, http.StatusUnauthorized)
		if p := r.problem(t); p.Detail != "Not authenticated" {
			t.Errorf("detail %q", p.Detail)
		}
	})
	t.Run("valid token", func(t *testing.T) { ok(t, good(nil)) })
	t.Run("alg none", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(now))
		reject(t, tok, "invalid bearer token")
	})
	t.Run("HS384 instead of the pinned HS256", func(t *testing.T) {
		reject(t, sign(t, jwt.SigningMethodHS384, secret, claims(now)), "signature or algorithm")
	})
	t.Run("wrong secret", func(t *testing.T) {
		reject(t, sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), claims(now)), "signature")
	})
	t.Run("expired", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }), "expired")
	})
	t.Run("expired within leeway is accepted", func(t *testing.T) {
		ok(t, good(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }))
	})
	t.Run("nbf in the future", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), "nbf")
	})
	t.Run("iat in the future", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }), "iat")
	})
	t.Run("wrong issuer", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }), "issuer")
	})
	t.Run("no issuer", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { delete(c, "iss") }), "iss")
	})
	t.Run("wrong audience", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["aud"] = []string{"other"} }), "audience")
	})
	t.Run("no exp", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { delete(c, "exp") }), "exp")
	})
	t.Run("no sub", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { delete(c, "sub") }), "sub")
	})
	t.Run("token over 8 KiB", func(t *testing.T) {
		tok := good(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", httpapi.MaxTokenBytes) })
		reject(t, tok, "longer than")
	})
	t.Run("invalid pipeline pattern in the claim", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["pipelines"] = []string{"Secure_*"} }), "pipelines")
	})
	t.Run("role claim of the wrong type", func(t *testing.T) {
		reject(t, good(func(c jwt.MapClaims) { c["role"] = 7 }), "role")
	})
	t.Run("Basic scheme", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{"Authorization: Basic YWRtaW46YWRtaW4="}}, http.StatusUnauthorized)
	})
	t.Run("two Authorization headers", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{bearer(good(nil)), bearer(good(nil))}}, http.StatusUnauthorized)
	})
	t.Run("role claim as string", func(t *testing.T) {
		tok := good(func(c jwt.MapClaims) { c["role"] = "viewer" })
		ok(t, tok)
		f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: []string{bearer(tok)}}, http.StatusForbidden)
	})
	t.Run("role claim as list", func(t *testing.T) {
		tok := good(func(c jwt.MapClaims) { c["role"] = []string{"viewer", "admin"} })
		f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: []string{bearer(tok)}}, http.StatusAccepted)
	})
	t.Run("no pipelines claim reaches no pipeline", func(t *testing.T) {
		tok := good(func(c jwt.MapClaims) { delete(c, "pipelines") })
		if got := f.pipelines(t, bearer(tok)); len(got) != 0 {
			t.Errorf("lists %q", got)
		}
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(tok)}}, http.StatusForbidden)
		f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: []string{bearer(tok)}}, http.StatusForbidden)
	})
	t.Run("pipelines claim as string", func(t *testing.T) {
		ok(t, good(func(c jwt.MapClaims) { c["pipelines"] = "secure_*" }))
	})
	t.Run("token expires by the clock", func(t *testing.T) {
		tok := good(nil)
		ok(t, tok)
		f.clock.Advance(11 * time.Minute)
		defer f.clock.Advance(-11 * time.Minute)
		reject(t, tok, "expired")
	})
}

func TestJWTAsymmetric(t *testing.T) {
	rk := testRSAKey(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		alg    string
		method jwt.SigningMethod
		priv   any
		pub    any
	}{
		{"RS256", jwt.SigningMethodRS256, rk, &rk.PublicKey},
		{"ES256", jwt.SigningMethodES256, ek, &ek.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, edk, edk.Public()},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			path, pemBytes := writePEM(t, c.pub)
			f := newFixture(t, setup{svc: jwtOnly(jwtConfig(c.alg, path))})
			now := f.clock.Now()
			t.Run("valid token", func(t *testing.T) {
				f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(sign(t, c.method, c.priv, claims(now)))}}, http.StatusOK)
			})
			t.Run("algorithm confusion: HS256 keyed with the public key PEM", func(t *testing.T) {
				tok := sign(t, jwt.SigningMethodHS256, pemBytes, claims(now))
				f.want(t, req{path: "/pipelines", headers: []string{bearer(tok)}}, http.StatusUnauthorized).problem(t)
			})
			t.Run("alg none", func(t *testing.T) {
				tok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(now))
				f.want(t, req{path: "/pipelines", headers: []string{bearer(tok)}}, http.StatusUnauthorized)
			})
			t.Run("signed by another key", func(t *testing.T) {
				var other any
				switch c.alg {
				case "RS256":
					other, _ = rsa.GenerateKey(rand.Reader, 1024)
				case "ES256":
					other, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				default:
					_, other, _ = ed25519.GenerateKey(rand.Reader)
				}
				f.want(t, req{path: "/pipelines", headers: []string{bearer(sign(t, c.method, other, claims(now)))}}, http.StatusUnauthorized)
			})
		})
	}
}

func TestBothProviders(t *testing.T) {
	f := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.JWT = true
		s.Security.JWTConfig = jwtConfig("HS256", "")
	}})
	now := f.clock.Now()
	tok := sign(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(now))
	t.Run("key alone", func(t *testing.T) {
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{key(adminKey)}}, http.StatusOK)
	})
	t.Run("token alone", func(t *testing.T) {
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(tok)}}, http.StatusOK)
	})
	t.Run("both challenges", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines"}, http.StatusUnauthorized)
		if ch := strings.Join(r.Header.Values("WWW-Authenticate"), " | "); !strings.Contains(ch, "ApiKey") || !strings.Contains(ch, "Bearer") {
			t.Errorf("WWW-Authenticate = %q", ch)
		}
	})
	t.Run("key and token naming different principals", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), bearer(tok)}}, http.StatusUnauthorized).problem(t)
	})
	t.Run("good key with a bad token", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), bearer("a.b.c")}}, http.StatusUnauthorized)
	})
	t.Run("key and token naming the same principal", func(t *testing.T) {
		c := claims(now)
		c["sub"] = "admin_full"
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), bearer(sign(t, jwt.SigningMethodHS256, []byte(jwtSecret), c))}}, http.StatusOK)
	})
}

// ---------------------------------------------------------------- HTTPS and proxies

func httpsService(s *httpapi.Service) {
	s.Security.RequireHTTPS = true
	s.Security.TrustedProxies = []string{"10.0.0.0/8"}
}

func TestRequireHTTPS(t *testing.T) {
	f := newFixture(t, setup{svc: httpsService})
	t.Run("plain HTTP is 403, never a redirect", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusForbidden)
		r.problem(t)
		if r.Header.Get("Location") != "" {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}
	})
	t.Run("spoofed X-Forwarded-Proto from an untrusted peer is 403", func(t *testing.T) {
		f.want(t, req{path: "/pipelines", headers: []string{key(adminKey), "X-Forwarded-Proto: https"}}, http.StatusForbidden)
	})
	t.Run("non-canonical path is not redirected", func(t *testing.T) {
		r := f.do(t, req{path: "//pipelines", headers: []string{key(adminKey)}})
		if r.Status/100 == 3 {
			t.Errorf("redirect %d to %q", r.Status, r.Header.Get("Location"))
		}
	})
	inProcess := func(t *testing.T, remote string, headers ...string) response {
		r := httptest.NewRequest("GET", "/pipelines", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-API-Key", adminKey)
		for _, h := range headers {
			name, value, _ := strings.Cut(h, ": ")
			r.Header.Add(name, value)
		}
		return f.serve(t, r)
	}
	t.Run("trusted proxy saying https is 200 with HSTS", func(t *testing.T) {
		r := inProcess(t, "10.1.2.3:4567", "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.7")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if !strings.HasPrefix(r.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS")
		}
	})
	t.Run("trusted proxy saying http is 403", func(t *testing.T) {
		if r := inProcess(t, "10.1.2.3:4567", "X-Forwarded-Proto: http"); r.Status != http.StatusForbidden {
			t.Errorf("status %d", r.Status)
		}
	})
	t.Run("untrusted peer saying https is 403", func(t *testing.T) {
		if r := inProcess(t, "192.0.2.10:4567", "X-Forwarded-Proto: https"); r.Status != http.StatusForbidden {
			t.Errorf("status %d", r.Status)
		}
	})
	t.Run("two X-Forwarded-Proto headers are not believed", func(t *testing.T) {
		if r := inProcess(t, "10.1.2.3:4567", "X-Forwarded-Proto: https", "X-Forwarded-Proto: https"); r.Status != http.StatusForbidden {
			t.Errorf("status %d", r.Status)
		}
	})
}

func TestTLS(t *testing.T) {
	f := newFixture(t, setup{svc: httpsService, tls: true})
	t.Run("TLS request is served with HSTS", func(t *testing.T) {
		r := f.want(t, req{path: "/pipelines", headers: []string{key(adminKey)}}, http.StatusOK)
		if !strings.Contains(r.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS on %v", r.Header)
		}
	})
	t.Run("HSTS on errors too", func(t *testing.T) {
		for _, p := range []string{"/pipelines", "/nope"} {
			r := f.do(t, req{path: p})
			if r.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s %d: no HSTS", p, r.Status)
			}
		}
	})
}

// ---------------------------------------------------------------- start-up checks

func TestNewRefusesInsecureConfig(t *testing.T) {
	rk := testRSAKey(t)
	pubPath, _ := writePEM(t, &rk.PublicKey)
	cases := []struct {
		name string
		env  map[string]string
		svc  func(*httpapi.Service)
		want []string
	}{
		{"key variable unset", map[string]string{"TASKWIRE_KEY_VIEWER_REPORTS": viewerKey}, nil, []string{"TASKWIRE_KEY_ADMIN_FULL", "unset or empty", "32"}},
		{"key variable empty", map[string]string{"TASKWIRE_KEY_ADMIN_FULL": "", "TASKWIRE_KEY_VIEWER_REPORTS": viewerKey}, nil, []string{"TASKWIRE_KEY_ADMIN_FULL", "unset or empty"}},
		{"key shorter than 32", map[string]string{"TASKWIRE_KEY_ADMIN_FULL": strings.Repeat("k", 31), "TASKWIRE_KEY_VIEWER_REPORTS": viewerKey}, nil, []string{"TASKWIRE_KEY_ADMIN_FULL", "31 characters", "at least 32"}},
		{"HMAC secret shorter than 32 bytes", map[string]string{"JWT_SECRET": strings.Repeat("s", 31)}, jwtOnly(jwtConfig("HS256", "")), []string{"JWT_SECRET", "at least 32"}},
		{"HMAC secret unset", map[string]string{}, jwtOnly(jwtConfig("HS256", "")), []string{"JWT_SECRET"}},
		{"public key file missing", nil, jwtOnly(jwtConfig("RS256", filepath.Join(t.TempDir(), "missing.pem"))), []string{"public key", "missing.pem"}},
		{"public key of the wrong type", nil, jwtOnly(jwtConfig("ES256", pubPath)), []string{"does not fit"}},
		{"unknown algorithm", nil, jwtOnly(jwtConfig("HS999", "")), []string{"not supported"}},
		{"algorithm none", nil, jwtOnly(jwtConfig("none", "")), []string{"not supported"}},
		{"malformed trusted proxy", nil, func(s *httpapi.Service) { s.Security.TrustedProxies = []string{"10.0.0.0/33"} }, []string{"trusted proxy"}},
		{"invalid key pipeline pattern", nil, func(s *httpapi.Service) { s.Security.Keys[0].Pipelines = []string{"Report_*"} }, []string{"pattern"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if env == nil {
				env = testEnv
			}
			reg := runtime.NewRegistry()
			if err := securedemo.Register(reg, &tasks{}); err != nil {
				t.Fatal(err)
			}
			svc := testService()
			svc.Security.Keys = svc.Security.Keys[:2]
			if c.svc != nil {
				c.svc(&svc)
			}
			srv, err := httpapi.New(testEngine(t, reg), svc, httpapi.WithGetenv(getenvFrom(env)), httpapi.WithLogger(quietLog))
			if err == nil {
				_ = srv.Shutdown(context.Background())
				t.Fatal("New accepted the configuration")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, secret := range []string{adminKey, viewerKey, jwtSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}
}

// ---------------------------------------------------------------- event streams

type sseEvent struct{ Type, Data string }

// openStream opens GET /runs/{id}/events; it returns the response (for
// errors) or a reader of events.
func (f *fixture) openStream(t testing.TB, ctx context.Context, runID string, headers ...string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	r := f.newRequest(t, req{path: "/runs/" + runID + "/events", headers: headers}).WithContext(ctx)
	resp, err := f.client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	checkSecurityHeaders(t, "events", resp.Header)
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.Type != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp, ch
}

func next(t *testing.T, ch <-chan sseEvent) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10s")
	}
	return sseEvent{}, false
}

func TestEventStream(t *testing.T) {
	for _, audited := range []bool{false, true} {
		t.Run(fmt.Sprint("audit ", audited), func(t *testing.T) {
			auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
			f := newFixture(t, setup{gate: true, svc: func(s *httpapi.Service) {
				s.Security.Audit = httpapi.Audit{Enabled: audited, File: auditFile}
			}})
			runID := f.execute(t, "stream")
			t.Run("behind authentication", func(t *testing.T) {
				resp, _ := f.openStream(t, context.Background(), runID)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("status %d", resp.StatusCode)
				}
			})
			t.Run("behind the ACL", func(t *testing.T) {
				resp, _ := f.openStream(t, context.Background(), runID, key(viewerKey))
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("status %d", resp.StatusCode)
				}
			})
			t.Run("snapshot, then events until the run ends", func(t *testing.T) {
				resp, ch := f.openStream(t, context.Background(), runID, key(adminKey))
				if ch == nil {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type %q", ct)
				}
				ev, _ := next(t, ch)
				if ev.Type != "snapshot" || !strings.Contains(ev.Data, `"run_id":"`+runID+`"`) {
					t.Fatalf("first event %+v", ev)
				}
				f.release()
				var types []string
				for {
					ev, ok := next(t, ch)
					if !ok {
						break
					}
					types = append(types, ev.Type)
				}
				if len(types) == 0 || types[len(types)-1] != "run_succeeded" {
					t.Errorf("events %q, want them to end with run_succeeded", types)
				}
			})
			if audited {
				b, err := os.ReadFile(auditFile)
				if err != nil || !strings.Contains(string(b), `"run_events"`) {
					t.Errorf("audit log %q: %v", b, err)
				}
			}
		})
	}
}

func TestStreamLimit(t *testing.T) {
	// The reader sees the admin's run (all_runs), to stream it as well.
	f := newFixture(t, setup{gate: true, svc: grantAllRuns("viewer")})
	runID := f.execute(t, "limit")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range httpapi.MaxStreamsPerPrincipal {
		resp, ch := f.openStream(t, ctx, runID, key(adminKey))
		if ch == nil {
			t.Fatalf("stream %d: status %d", i+1, resp.StatusCode)
		}
		if ev, _ := next(t, ch); ev.Type != "snapshot" {
			t.Fatalf("stream %d: first event %+v", i+1, ev)
		}
	}
	t.Run("ninth stream is 429", func(t *testing.T) {
		resp, ch := f.openStream(t, ctx, runID, key(adminKey))
		defer resp.Body.Close()
		if ch != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
	t.Run("another principal still streams", func(t *testing.T) {
		resp, ch := f.openStream(t, ctx, runID, key(readerKey))
		if ch == nil {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	cancel() // the clients go away: their streams are released
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, ch := f.openStream(t, context.Background(), runID, key(adminKey))
		if ch != nil {
			f.release()
			for range ch {
			}
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("streams were not released after their clients left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- documents

func TestDocs(t *testing.T) {
	f := newFixture(t, setup{})
	t.Run("docs page", func(t *testing.T) {
		r := f.want(t, req{path: "/docs", headers: []string{key(adminKey)}}, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
		page := string(r.Body)
		for _, id := range []string{"list_pipelines", "get_pipeline", "execute_secure_demo_pipeline", "get_run", "cancel_run", "run_events"} {
			if !strings.Contains(page, id) {
				t.Errorf("page does not mention %s", id)
			}
		}
		external := regexp.MustCompile(`(?i)(<script|<link|<img|<iframe|@import|url\()[^>]*(https?:)?//`)
		if m := external.FindString(page); m != "" {
			t.Errorf("page loads an external resource: %q", m)
		}
		if strings.Contains(strings.ToLower(page), "<script") {
			t.Error("page has a script")
		}
	})
	t.Run("docs needs credentials", func(t *testing.T) {
		f.want(t, req{path: "/docs"}, http.StatusUnauthorized)
	})
	t.Run("openapi.json served authenticated", func(t *testing.T) {
		f.want(t, req{path: "/openapi.json"}, http.StatusUnauthorized)
		r := f.want(t, req{path: "/openapi.json", headers: []string{key(viewerKey)}}, http.StatusOK)
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		r.json(t, &doc)
		if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/pipelines"] == nil {
			t.Errorf("document %.200s", r.Body)
		}
	})
}

// ---------------------------------------------------------------- the http.Server

func TestHTTPServerTimeouts(t *testing.T) {
	s := httpapi.HTTPServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("unset limits: %+v", s)
	}
	if s.ReadHeaderTimeout > 10*time.Second || s.MaxHeaderBytes > 1<<20 || s.WriteTimeout < httpapi.MaxWait {
		t.Errorf("limits: header %s, write %s, header bytes %d", s.ReadHeaderTimeout, s.WriteTimeout, s.MaxHeaderBytes)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	f := newFixture(t, setup{noWrap: true})
	started, finish := make(chan struct{}), make(chan struct{})
	err := f.srv.Handle(httpapi.Route{Method: "GET", Path: "/slow", OperationID: "slow"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		httpapi.WriteJSON(w, r, http.StatusOK, map[string]string{"done": "yes"})
	}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, l, "", "") }()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		r, _ := http.NewRequest("GET", "http://"+l.Addr().String()+"/slow", nil)
		r.Header.Set("X-API-Key", adminKey)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after the context ended")
	}
	close(finish)
	res := <-got
	if res.err != nil || res.status != http.StatusOK || !strings.Contains(res.body, "yes") {
		t.Fatalf("in-flight request: %+v", res)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// An open event stream does not hold a graceful shutdown for its whole grace period.
func TestServeEndsStreamsOnShutdown(t *testing.T) {
	f := newFixture(t, setup{noWrap: true, gate: true})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, l, "", "") }()
	f.ts = &httptest.Server{URL: "http://" + l.Addr().String()}
	f.hc = &http.Client{}
	runID := f.execute(t, "x")
	resp, ch := f.openStream(t, context.Background(), runID, key(adminKey))
	if ch == nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	next(t, ch)
	start := time.Now()
	cancel()
	f.release()
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve waited on the open stream")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
}

// An Idempotency-Key is scoped to the principal and its auth method: a JWT
// whose subject is spelled like a key id does not get the key's run.
func TestIdempotencyScope(t *testing.T) {
	f := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.JWT = true
		s.Security.JWTConfig = jwtConfig("HS256", "")
	}})
	c := claims(f.clock.Now())
	c["sub"] = "admin_full"
	tok := sign(t, jwt.SigningMethodHS256, []byte(jwtSecret), c)
	run := func(cred string) string {
		var v struct {
			RunID string `json:"run_id"`
		}
		f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: []string{cred, "Idempotency-Key: same-key"}}, http.StatusAccepted).json(t, &v)
		return v.RunID
	}
	byKey, again, byToken := run(key(adminKey)), run(key(adminKey)), run(bearer(tok))
	if byKey != again {
		t.Errorf("the same principal got two runs: %s, %s", byKey, again)
	}
	if byKey == byToken {
		t.Errorf("a token with sub %q got the API key's run %s", "admin_full", byKey)
	}
}

// An Idempotency-Key sent again with the same inputs returns the first run,
// however the body is spaced; with other inputs it is 422, and no run starts.
func TestIdempotencyKeyReusedWithOtherBody(t *testing.T) {
	f := newFixture(t, setup{svc: unlimited})
	admin := key(adminKey)
	exec := "/pipelines/secure_demo_pipeline/execute"
	var first, again struct {
		RunID string `json:"run_id"`
	}
	f.want(t, req{method: "POST", path: exec, body: `{"data":"x"}`, headers: []string{admin, "Idempotency-Key: k-1"}}, http.StatusAccepted).json(t, &first)
	f.want(t, req{method: "POST", path: exec, body: "{ \"data\" : \"x\" }\n", headers: []string{admin, "Idempotency-Key: k-1"}}, http.StatusAccepted).json(t, &again)
	if first.RunID == "" || again.RunID != first.RunID {
		t.Fatalf("the same key and inputs gave runs %q and %q", first.RunID, again.RunID)
	}
	p := f.want(t, req{method: "POST", path: exec, body: `{"data":"y"}`, headers: []string{admin, "Idempotency-Key: k-1"}}, http.StatusUnprocessableEntity).problem(t)
	if !strings.Contains(p.Detail, "different body") {
		t.Errorf("detail %q", p.Detail)
	}
	page, err := f.srv.Engine().List(context.Background(), runtime.ListOptions{})
	if err != nil || len(page.Runs) != 1 {
		t.Errorf("runs after the refused reuse: %d, %v; want the first only", len(page.Runs), err)
	}
}
