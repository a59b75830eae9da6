// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/route"
)

// checkConsoleCSP fails unless h carries the console's policy: nothing
// inline, no eval, no framing.
func checkConsoleCSP(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if csp != httpapi.ConsoleCSP {
		t.Errorf("%s: Content-Security-Policy %q, want the console's", what, csp)
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "data:", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: the policy allows %s: %q", what, bad, csp)
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: the policy lacks %s: %q", what, want, csp)
		}
	}
}

// TestConsolePage serves the console without credentials: the page, every
// file it references, with the console's Content-Security-Policy.
func TestConsolePage(t *testing.T) {
	f := newFixture(t, setup{})
	page := f.want(t, req{path: "/ui/"}, http.StatusOK)
	if ct := page.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	checkConsoleCSP(t, "/ui/", page.Header)
	html := string(page.Body)

	// Nothing inline for the policy to forbid, nothing from elsewhere.
	for _, m := range regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[1], `src="/ui/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("the page has an inline script: %q", m[0])
		}
	}
	for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`, `(src|href)="(https?:)?//`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(html); m != "" {
			t.Errorf("the page has %q", m)
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 3 {
		t.Fatalf("the page references %d files: %v", len(refs), refs)
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, ref := range refs {
		r := f.want(t, req{path: ref[1]}, http.StatusOK)
		if want := types[filepath.Ext(ref[1])]; r.Header.Get("Content-Type") != want {
			t.Errorf("%s: Content-Type %q, want %q", ref[1], r.Header.Get("Content-Type"), want)
		}
		checkConsoleCSP(t, ref[1], r.Header)
		if len(r.Body) == 0 {
			t.Errorf("%s is empty", ref[1])
		}
	}

	// The script builds the page without what the policy forbids (it would
	// fail in the browser) and keeps the credential in sessionStorage only.
	script := strings.ReplaceAll(string(f.want(t, req{path: "/ui/console.js"}, http.StatusOK).Body), "'http://www.w3.org/2000/svg'", "SVGNS")
	script = regexp.MustCompile(`(?m)(^\s*|\s)// .*$`).ReplaceAllString(script, "") // the comments may name what the code avoids
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", ".style.", "localStorage", "document.cookie", "EventSource", "http://", "https://"} {
		if strings.Contains(script, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
	if !strings.Contains(script, "sessionStorage") || !strings.Contains(script, "getReader") {
		t.Error("console.js does not keep the credential in sessionStorage or read event streams with fetch")
	}

	for _, p := range []string{"/ui/nothing.js", "/ui/index.html", "/ui/a/b", "/ui/..%2fconsole.go", "/ui/console.go"} {
		r := f.do(t, req{path: p})
		if r.Status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, r.Status)
		}
		r.problem(t)
	}
	// The page is public, not open to anything else: no other method.
	f.want(t, req{method: "POST", path: "/ui/", body: "{}"}, http.StatusMethodNotAllowed)
}

// config.json tells the sign-in which credentials the service takes, and
// nothing else.
func TestConsoleConfig(t *testing.T) {
	read := func(f *fixture) map[string]any {
		t.Helper()
		var v map[string]any
		r := f.want(t, req{path: "/ui/config.json"}, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		checkConsoleCSP(t, "config.json", r.Header)
		r.json(t, &v)
		return v
	}
	got := read(newFixture(t, setup{}))
	if got["title"] != "Secure Taskiq-Flow API" || !slices.Equal(anyStrings(got["auth"]), []string{"api_key"}) || got["api_key_header"] != "X-API-Key" || len(got) != 3 {
		t.Errorf("demo: %v", got)
	}
	both := read(newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.JWT = true
		s.Security.APIKeyHeader = "X-Service-Key"
		s.Security.JWTConfig = &httpapi.JWT{Algorithm: "HS256", SecretEnv: "JWT_SECRET", RoleClaim: "role", PipelinesClaim: "pipelines"}
	}}))
	if !slices.Equal(anyStrings(both["auth"]), []string{"api_key", "jwt"}) || both["api_key_header"] != "X-Service-Key" {
		t.Errorf("api key and jwt: %v", both)
	}
	open := read(newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security = httpapi.Security{} }}))
	if a := anyStrings(open["auth"]); len(a) != 0 || open["api_key_header"] != nil {
		t.Errorf("no security: %v", open)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// The console is limited per client address when the spec's limits are
// on: a flood from one address gets 429 before any handler, without
// touching the buckets of principals or of other addresses.
func TestConsoleRateLimit(t *testing.T) {
	f := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.TrustedProxies = []string{"127.0.0.1/32"}
	}})
	from := func(ip string) string { return "X-Forwarded-For: " + ip }
	for i := range route.ConsoleRate.N {
		r := f.want(t, req{path: "/ui/console.css", headers: []string{from("192.0.2.1")}}, http.StatusOK)
		if i == 0 && r.Header.Get("RateLimit-Policy") != `"console_file";q=120;w=60` {
			t.Errorf("RateLimit-Policy %q", r.Header.Get("RateLimit-Policy"))
		}
	}
	r := f.want(t, req{path: "/ui/console.css", headers: []string{from("192.0.2.1")}}, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	f.want(t, req{path: "/ui/console.css", headers: []string{from("192.0.2.2")}}, http.StatusOK)
	f.want(t, req{path: "/ui/", headers: []string{from("192.0.2.1")}}, http.StatusOK) // a bucket per route
	f.want(t, req{path: "/pipelines", headers: []string{from("192.0.2.1"), key(adminKey)}}, http.StatusOK)
	f.clock.Advance(time.Minute)
	f.want(t, req{path: "/ui/console.css", headers: []string{from("192.0.2.1")}}, http.StatusOK)

	// Without the spec's limits the console has no limit of its own: the
	// anonymous limit of every address applies.
	g := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security.RateLimits = nil }})
	for range httpapi.DefaultAnonymousRate.N {
		g.want(t, req{path: "/ui/config.json"}, http.StatusOK)
	}
	g.want(t, req{path: "/ui/config.json"}, http.StatusTooManyRequests)
	g.clock.Advance(httpapi.DefaultAnonymousRate.Per)
	g.want(t, req{path: "/ui/config.json"}, http.StatusOK)
}

// GET /docs leads a browser without credentials to the console's API
// reference and stays authenticated for everyone else.
func TestDocsLeadsBrowsersToTheConsole(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	f := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.Audit = httpapi.Audit{Enabled: true, File: file}
	}})
	const browser = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	r := f.want(t, req{path: "/docs", headers: []string{browser}}, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/ui/#/docs" {
		t.Errorf("Location %q", loc)
	}
	if !strings.Contains(string(r.Body), `href="/ui/#/docs"`) {
		t.Errorf("body %s", r.Body)
	}
	// A browser with a key reads the page; API clients without one get 401.
	if r := f.want(t, req{path: "/docs", headers: []string{browser, key(adminKey)}}, http.StatusOK); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("docs page: %q", r.Header.Get("Content-Type"))
	}
	for _, hs := range [][]string{
		nil,
		{"Accept: application/json"},
		{"Accept: */*"},
		{"Accept: text/html;q=0"},
		{browser, "Authorization: Bearer not-a-token"},
		{browser, key("sk_wrong_0123456789abcdefghijklmnopqrstuvwx")},
	} {
		r := f.want(t, req{path: "/docs", headers: hs}, http.StatusUnauthorized)
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%v: 401 without WWW-Authenticate", hs)
		}
	}
	recs := readAudit(t, file)
	found := false
	for _, rec := range recs {
		if rec.Route == route.Docs && rec.Status == http.StatusSeeOther && rec.Principal == "" && rec.Outcome == "ok" {
			found = true
		}
	}
	if !found {
		t.Errorf("the redirect is not in the audit log: %+v", recs)
	}

	// Where HTTPS is required, plain HTTP is refused, never redirected.
	h := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security.RequireHTTPS = true }})
	h.want(t, req{path: "/docs", headers: []string{browser}}, http.StatusForbidden)
	h.want(t, req{path: "/ui/", headers: []string{browser}}, http.StatusForbidden)
	// Without security nobody gets a 401, so nobody is redirected.
	open := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security = httpapi.Security{} }})
	open.want(t, req{path: "/docs", headers: []string{browser}}, http.StatusOK)
}

// The console's requests are audited like every route's: anonymous, by
// route, with their status.
func TestConsoleAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	f := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.Audit = httpapi.Audit{Enabled: true, File: file}
	}})
	f.want(t, req{path: "/ui/"}, http.StatusOK)
	f.want(t, req{path: "/ui/console.js"}, http.StatusOK)
	f.want(t, req{path: "/ui/missing.js"}, http.StatusNotFound)
	// The first is recorded in full; the others, anonymous too, are
	// counted in the address's summary, written at shutdown.
	want := []struct {
		route, path string
		status      int
	}{{route.Console, "/ui/", 200}}
	shutdown(t, f.srv)
	recs, sums := splitSummaries(readAudit(t, file))
	if len(recs) != len(want) || len(sums) != 1 {
		t.Fatalf("%d records, %d summaries: %+v", len(recs), len(sums), recs)
	}
	if c := summaryCounts(sums); c["requests"] != 2 || c["200"] != 1 || c["404"] != 1 || c[route.ConsoleFile] != 2 {
		t.Errorf("summary counts %v", c)
	}
	for i, w := range want {
		if r := recs[i]; r.Route != w.route || r.Path != w.path || r.Status != w.status || r.Principal != "" || r.AuthMethod != "" {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(recs)
	if strings.Contains(string(b), adminKey) {
		t.Error("a key in the audit log")
	}
}
