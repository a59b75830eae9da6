package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkChain measures GET /pipelines with a valid key through the whole
// chain (request id, headers, authentication, ACL, JSON; audit and rate
// limits off) against a bare handler writing the same JSON.
func BenchmarkChain(b *testing.B) {
	srv := inProcessServer(b, time.Now(), nil)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string][]string{"pipelines": {"secure_demo_pipeline"}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"full", srv}, {"bare", bare}} {
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
