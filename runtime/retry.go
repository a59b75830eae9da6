// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"math/rand/v2"
	"time"
)

// attempts returns the total number of attempts allowed, at least 1.
func (r RetryPolicy) attempts() int { return max(r.Attempts, 1) }

// Delay returns the wait before the attempt following failed attempt n
// (1-based): Backoff doubled n-1 times, capped by MaxBackoff, with "equal
// jitter": a uniformly random point in [d/2, d]. Zero Backoff means no wait.
func (r RetryPolicy) Delay(n int) time.Duration {
	if r.Backoff <= 0 {
		return 0
	}
	d := r.Backoff
	for i := 1; i < n; i++ {
		if d > time.Duration(1<<62)/2 {
			break
		}
		d *= 2
		if r.MaxBackoff > 0 && d >= r.MaxBackoff {
			break
		}
	}
	if r.MaxBackoff > 0 && d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
