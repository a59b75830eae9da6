// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// shutdown shuts srv down now (writing its summaries); the test's cleanup
// may do it again.
func shutdown(t *testing.T, srv *httpapi.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// splitSummaries separates the summaries of anonymous requests from the
// other records.
func splitSummaries(all []audit.Record) (recs, sums []audit.Record) {
	for _, r := range all {
		if r.Type == audit.TypeAnonymousSummary {
			sums = append(sums, r)
		} else {
			recs = append(recs, r)
		}
	}
	return recs, sums
}

// summaryCounts adds up summaries: "requests", each status code and each
// route id.
func summaryCounts(sums []audit.Record) map[string]int {
	c := map[string]int{}
	for _, s := range sums {
		c["requests"] += int(s.Details["requests"].(float64))
		for _, k := range []string{"by_status", "by_route"} {
			for name, n := range s.Details[k].(map[string]any) {
				c[name] += int(n.(float64))
			}
		}
	}
	return c
}

// httpDo sends one request to ts and returns its status, headers and body.
func httpDo(t *testing.T, ts *httptest.Server, method, path, key string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// anonymousFloodBound is what the audit file may hold after a flood from
// one address, whatever its size: per window (the flood spans two) the
// address's first request in full and its summary, plus the admin's five
// requests.
const anonymousFloodBound = 12 << 10

// A flood of anonymous requests from one address (404, 405, 401 without
// credentials, /healthz) gets 429s past the anonymous limit; the audit
// file grows by the same small amount for 2,000 and 6,000 requests, every
// request is accounted for (in full or counted in a summary), the chain
// verifies, and the admin is served during and after the flood.
func TestAnonymousFloodBoundsTheAuditLog(t *testing.T) {
	for _, n := range []int{2_000, 6_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newSecServer(t, nil, secQuietLog)
			ts := httptest.NewServer(s.srv)
			defer ts.Close()
			flood := []struct{ method, path string }{
				{http.MethodGet, "/no/such/route"},
				{http.MethodDelete, "/pipelines"},
				{http.MethodGet, "/pipelines"},
				{http.MethodGet, "/healthz"},
			}
			const workers = 4
			var (
				mu       sync.Mutex
				statuses = map[int]int{}
				sent     atomic.Int64
				wg       sync.WaitGroup
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += workers {
						f := flood[i%len(flood)]
						code, h, _ := httpDo(t, ts, f.method, f.path, "")
						if code == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
							t.Errorf("429 without Retry-After")
						}
						mu.Lock()
						statuses[code]++
						mu.Unlock()
						if k := sent.Add(1); k%500 == 0 {
							s.clock.Advance(time.Second) // refills the bucket: 20 more get through
						}
					}
				}()
			}
			// The admin, from the same address, during the flood.
			for i := range 4 {
				for sent.Load() < int64((i+1)*n/5) {
					time.Sleep(time.Millisecond)
				}
				if code, _, body := httpDo(t, ts, http.MethodGet, "/pipelines", secAdminKey); code != http.StatusOK {
					t.Fatalf("admin during the flood: %d %s", code, body)
				}
			}
			wg.Wait()
			if code, _, body := httpDo(t, ts, http.MethodGet, "/pipelines", secAdminKey); code != http.StatusOK {
				t.Fatalf("admin after the flood: %d %s", code, body)
			}
			if statuses[http.StatusTooManyRequests] < n/2 || statuses[http.StatusNotFound] == 0 || statuses[http.StatusMethodNotAllowed] == 0 ||
				statuses[http.StatusUnauthorized] == 0 || statuses[http.StatusOK] == 0 {
				t.Fatalf("statuses %v for %d anonymous requests", statuses, n)
			}
			ts.Close()
			shutdown(t, s.srv)

			fi, err := os.Stat(s.auditFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > anonymousFloodBound {
				t.Errorf("audit file of %d bytes after %d anonymous requests, want at most %d", fi.Size(), n, anonymousFloodBound)
			}
			t.Logf("%d anonymous requests (%v): audit file of %d bytes", n, statuses, fi.Size())
			recs, sums := splitSummaries(readAudit(t, s.auditFile))
			c := summaryCounts(sums)
			full := 0
			for _, r := range recs {
				if r.Principal == "" {
					full++
				} else if r.Principal != "admin_full" || r.Status != http.StatusOK {
					t.Errorf("record %+v", r)
				}
			}
			if full+c["requests"] != n || c["429"] != statuses[http.StatusTooManyRequests] || len(recs)-full != 5 {
				t.Errorf("%d anonymous in full + %d counted (%v), %d admin records, for %d requests (%v)", full, c["requests"], c, len(recs)-full, n, statuses)
			}
			for _, sum := range sums {
				if sum.ClientIP != "127.0.0.1" {
					t.Errorf("summary of %q", sum.ClientIP)
				}
			}
			if _, err := audit.Verify(s.auditFile); err != nil {
				t.Fatalf("audit verify: %v", err)
			}
		})
	}
}

// With the audit disk below its minimum, anonymous requests are shed with
// 503 and leave no record of their own, while authenticated ones (a read
// and an execute) are served and recorded; once there is room again the
// anonymous are served again. A wrong key still gets a record of its own.
func TestAnonymousShedOnLowDisk(t *testing.T) {
	var free atomic.Uint64
	free.Store(10 << 30)
	var statfsCalls atomic.Int64
	s := newSecServer(t, func(svc *httpapi.Service) { svc.Security.Audit.MinFree = 256 << 20 }, secQuietLog,
		httpapi.WithFreeSpace(func(dir string) (uint64, error) {
			statfsCalls.Add(1)
			if _, err := os.Stat(dir); err != nil {
				return 0, err
			}
			return free.Load(), nil
		}))
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	if code, _, _ := httpDo(t, ts, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz with room on the disk: %d", code)
	}
	free.Store(100 << 20) // below the 256 MiB minimum
	if code, _, _ := httpDo(t, ts, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz before the next reading of the free space: %d", code)
	}
	s.clock.Advance(httpapi.DefaultFreeSpaceInterval)

	var shedIDs []string
	for _, q := range []struct{ method, path string }{
		{http.MethodGet, "/healthz"}, {http.MethodGet, "/no/such/route"}, {http.MethodDelete, "/pipelines"}, {http.MethodGet, "/pipelines"}, {http.MethodGet, "/ui/"},
	} {
		for range 3 {
			code, h, body := httpDo(t, ts, q.method, q.path, "")
			if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "short of disk space") {
				t.Fatalf("%s %s on low disk: %d %v %s", q.method, q.path, code, h, body)
			}
			shedIDs = append(shedIDs, h.Get("X-Request-Id"))
		}
	}
	code, h, body := httpDo(t, ts, http.MethodGet, "/pipelines", secAdminKey)
	if code != http.StatusOK {
		t.Fatalf("admin read on low disk: %d %s", code, body)
	}
	adminID := h.Get("X-Request-Id")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/pipelines/secure_demo_pipeline/execute", strings.NewReader(`{"data":"low disk"}`))
	req.Header.Set("X-API-Key", secAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("admin execute on low disk: %d", resp.StatusCode)
	}
	if code, _, _ := httpDo(t, ts, http.MethodGet, "/pipelines", "sk_wrong_key_on_a_low_disk_0000000000000000"); code != http.StatusUnauthorized {
		t.Fatalf("wrong key on low disk: %d", code)
	}
	if n := statfsCalls.Load(); n != 2 {
		t.Errorf("free space read %d times, want once per interval (2)", n)
	}

	free.Store(1 << 30)
	s.clock.Advance(httpapi.DefaultFreeSpaceInterval)
	if code, _, _ := httpDo(t, ts, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz with room again: %d", code)
	}
	ts.Close()
	shutdown(t, s.srv)

	recs, sums := splitSummaries(readAudit(t, s.auditFile))
	byID := map[string]audit.Record{}
	for _, r := range recs {
		byID[r.RequestID] = r
	}
	for _, id := range shedIDs {
		if r, ok := byID[id]; ok {
			t.Errorf("a shed request has a record of its own: %+v", r)
		}
	}
	if r, ok := byID[adminID]; !ok || r.Principal != "admin_full" || r.Status != http.StatusOK {
		t.Errorf("admin's read on low disk: %+v", r)
	}
	var wrongKey, execute int
	for _, r := range recs {
		switch {
		case r.Status == http.StatusUnauthorized && r.Detail == "invalid API key":
			wrongKey++
		case r.Route == "execute_secure_demo_pipeline" && r.Type == audit.TypeRequest && r.Status == http.StatusAccepted:
			execute++
		}
	}
	if wrongKey != 1 || execute != 1 {
		t.Errorf("%d records of the wrong key, %d of the execute; want 1 each", wrongKey, execute)
	}
	if c := summaryCounts(sums); c["503"] != len(shedIDs) {
		t.Errorf("summaries count %d shed requests, want %d (%v)", c["503"], len(shedIDs), c)
	}
	if _, err := audit.Verify(s.auditFile); err != nil {
		t.Fatal(err)
	}
}
