// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"time"
)

// MaxRetryWait is the longest wait between two calls of Retry.
const MaxRetryWait = 2 * time.Second

// Retry calls op until it succeeds, fails with an error retryable refuses,
// ctx ends, or the next wait would pass bound from the first call; it
// returns op's last error. It waits first between the first two calls,
// then twice as long each time up to MaxRetryWait, and tells onRetry
// (which may be nil) before each wait. Backends and the runtime use it to
// ride out a broker that refuses calls for a while.
func Retry(ctx context.Context, bound, first time.Duration, retryable func(error) bool, onRetry func(wait time.Duration, err error), op func() error) error {
	deadline := time.Now().Add(bound)
	wait := first
	for {
		err := op()
		if err == nil || !retryable(err) || !time.Now().Add(wait).Before(deadline) {
			return err
		}
		if onRetry != nil {
			onRetry(wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, MaxRetryWait)
	}
}
