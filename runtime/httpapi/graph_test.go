// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestGraphFormats reads the demo pipeline's graph in every format over
// HTTP.
func TestGraphFormats(t *testing.T) {
	f := newFixture(t, setup{})
	admin := []string{key(adminKey)}
	for format, ctype := range map[string]string{
		"":        "application/json",
		"json":    "application/json",
		"mermaid": "text/vnd.mermaid; charset=utf-8",
		"dot":     "text/vnd.graphviz; charset=utf-8",
		"svg":     "image/svg+xml",
	} {
		r := f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph?format=" + format, headers: admin}, http.StatusOK)
		if got := r.Header.Get("Content-Type"); got != ctype {
			t.Errorf("format %q: Content-Type %q, want %q", format, got, ctype)
		}
		if !strings.Contains(string(r.Body), "process_data") {
			t.Errorf("format %q: no process_data in %s", format, r.Body)
		}
	}
	svg := f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph?format=svg", headers: admin}, http.StatusOK)
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg"`, `data-task="process_data"`, `data-task="validate_result"`, `data-input="data"`, `data-output="validated"`} {
		if !strings.Contains(string(svg.Body), want) {
			t.Errorf("svg lacks %s", want)
		}
	}
	if csp := svg.Header.Get("Content-Security-Policy"); csp != "default-src 'none'; frame-ancestors 'none'" {
		t.Errorf("svg CSP %q", csp)
	}
	if p := f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph?format=png", headers: admin}, http.StatusBadRequest).problem(t); !strings.Contains(p.Detail, "svg") {
		t.Errorf("bad format detail %q", p.Detail)
	}
	// The image is the API's like every format: credentials and read needed.
	f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph?format=svg"}, http.StatusUnauthorized)
	f.want(t, req{path: "/pipelines/secure_demo_pipeline/graph?format=svg", headers: []string{key(viewerKey)}}, http.StatusForbidden)
}
