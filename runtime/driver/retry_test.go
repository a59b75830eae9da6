// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	transient, fatal := errors.New("transient"), errors.New("fatal")
	retryable := func(err error) bool { return errors.Is(err, transient) }
	ctx := context.Background()

	calls, waits := 0, []time.Duration(nil)
	err := Retry(ctx, time.Minute, time.Millisecond, retryable, func(w time.Duration, _ error) { waits = append(waits, w) }, func() error {
		calls++
		if calls < 4 {
			return transient
		}
		return nil
	})
	if err != nil || calls != 4 || len(waits) != 3 || waits[0] != time.Millisecond || waits[1] != 2*time.Millisecond || waits[2] != 4*time.Millisecond {
		t.Fatalf("err %v, %d calls, waits %v: want success at the 4th call after waits of 1, 2 and 4ms", err, calls, waits)
	}

	calls = 0
	if err := Retry(ctx, time.Minute, time.Millisecond, retryable, nil, func() error { calls++; return fatal }); !errors.Is(err, fatal) || calls != 1 {
		t.Fatalf("an error not retryable: %v after %d calls, want it at once", err, calls)
	}

	calls = 0
	if err := Retry(ctx, 5*time.Millisecond, 2*time.Millisecond, retryable, nil, func() error { calls++; return transient }); !errors.Is(err, transient) || calls > 3 {
		t.Fatalf("past the bound: %v after %d calls", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls = 0
	if err := Retry(cctx, time.Minute, time.Hour, retryable, nil, func() error { calls++; return transient }); !errors.Is(err, transient) || calls != 1 {
		t.Fatalf("ctx done: %v after %d calls, want the first error at once", err, calls)
	}
}
