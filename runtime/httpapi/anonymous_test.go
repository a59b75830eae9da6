// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
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
