// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// A handler that has started its response and then panics: with the audit
// log holding the response back, the client gets a clean 500; without it,
// the connection is cut rather than a 200 with an error appended.
func TestPanicAfterTheResponseStarted(t *testing.T) {
	for _, withAudit := range []bool{true, false} {
		name := map[bool]string{true: "audit", false: "no audit"}[withAudit]
		t.Run(name, func(t *testing.T) {
			srv := inProcessServer(t, time.Now(), func(svc *httpapi.Service) {
				svc.Security.Audit = httpapi.Audit{Enabled: withAudit, File: t.TempDir() + "/audit.jsonl"}
			})
			route := httpapi.Route{Method: http.MethodGet, Path: "/half", OperationID: "half"}
			if err := srv.Handle(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Partial", "yes")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, `{"partial":`)
				if f, ok := w.(http.Flusher); ok && !withAudit {
					f.Flush()
				}
				panic("boom after the first bytes")
			})); err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/half", nil)
			req.Header.Set("X-API-Key", adminKey)
			resp, err := http.DefaultClient.Do(req)
			if withAudit {
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Partial") != "" || strings.Contains(string(body), "partial") {
					t.Fatalf("got %d %q headers %v", resp.StatusCode, body, resp.Header)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
					t.Fatalf("security headers missing: %v", resp.Header)
				}
				return
			}
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatalf("a half-sent response was completed (status %d) instead of cut", resp.StatusCode)
			}
		})
	}
}
