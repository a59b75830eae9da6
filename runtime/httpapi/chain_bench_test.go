// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// BenchmarkChain measures GET /pipelines with a valid key through the whole
// chain (request id, headers, authentication, ACL, JSON; audit and rate
// limits off) against a bare handler writing the same JSON; then the same
// with rate limits (out of the way) and the audit log on, in each sync mode,
// to a file in the test's temp dir; and the chain with metrics on.
func BenchmarkChain(b *testing.B) {
	noMetrics := func(svc *httpapi.Service) { svc.Security.Metrics = nil }
	srv := inProcessServer(b, time.Now(), noMetrics)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string][]string{"pipelines": {"secure_demo_pipeline"}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
	audited := func(mode audit.SyncMode) http.Handler {
		return inProcessServer(b, time.Now(), func(svc *httpapi.Service) {
			noMetrics(svc)
			unlimited(svc)
			svc.Security.Audit = httpapi.Audit{Enabled: true, File: b.TempDir() + "/audit.jsonl", Sync: mode}
		})
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"full", srv}, {"bare", bare}, {"limits+audit-interval", audited(audit.Interval)}, {"limits+audit-always", audited(audit.Always)},
		{"full+metrics", inProcessServer(b, time.Now(), func(svc *httpapi.Service) {
			svc.Security.Metrics = &httpapi.MetricsAccess{Roles: []string{"admin"}}
		})}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/pipelines", nil)
			req.Header.Set("X-API-Key", adminKey)
			want := "{\"pipelines\":[\"secure_demo_pipeline\"]}\n"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.String() != want {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkServe measures GET /pipelines through the whole server from many
// goroutines at once, as a loaded server sees it: with security disabled
// (the baseline), with a key and rate limits (set out of the way), and with
// the audit log on as well (synced to a file in the test's temp dir), then
// with metrics counted too.
func BenchmarkServe(b *testing.B) {
	high := func(svc *httpapi.Service) { // metrics off unless a case turns them on
		unlimited(svc)
		svc.Security.Metrics = nil
	}
	cases := []struct {
		name string
		edit func(*httpapi.Service)
	}{
		{"insecure", func(svc *httpapi.Service) { svc.Security.Enabled, svc.Security.Metrics = false, nil }},
		{"secure", high},
		{"secure+audit", func(svc *httpapi.Service) {
			high(svc)
			svc.Security.Audit = httpapi.Audit{Enabled: true, File: b.TempDir() + "/audit.jsonl"}
		}},
		{"secure+audit+metrics", func(svc *httpapi.Service) {
			high(svc)
			svc.Security.Audit = httpapi.Audit{Enabled: true, File: b.TempDir() + "/audit.jsonl"}
			svc.Security.Metrics = &httpapi.MetricsAccess{Roles: []string{"admin"}}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			srv := inProcessServer(b, time.Now(), c.edit)
			want := "{\"pipelines\":[\"secure_demo_pipeline\"]}\n"
			b.ReportAllocs()
			b.SetParallelism(32)
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/pipelines", nil)
				req.Header.Set("X-API-Key", adminKey)
				for pb.Next() {
					w := httptest.NewRecorder()
					srv.ServeHTTP(w, req)
					if w.Code != http.StatusOK || w.Body.String() != want {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
			// CPU time per request, which other processes on the machine
			// change less than the wall time.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
