// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// testEngine returns an in-memory engine over reg, shut down when the test
// ends (after the server, whose cleanup was registered later).
func testEngine(tb testing.TB, reg *runtime.Registry) *runtime.Engine {
	tb.Helper()
	e := runtime.New(reg)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			tb.Errorf("engine shutdown: %v", err)
		}
	})
	return e
}

// unlimited takes the rate limits out of the way of svc.
func unlimited(svc *httpapi.Service) {
	svc.Security.RateLimits = &httpapi.Limits{Default: &httpapi.Rate{N: 1 << 30, Per: time.Second}}
}
