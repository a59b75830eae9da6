// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
)

// tasks implements the demo's two tasks. Each takes delay first (the
// -task-delay flag), so that runs last long enough to be watched live in
// the console.
type tasks struct {
	delay time.Duration
}

// work waits out the delay, or until ctx ends (a cancelled run).
func (t tasks) work(ctx context.Context) error {
	if t.delay <= 0 {
		return nil
	}
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ProcessData upper-cases the input.
func (t tasks) ProcessData(ctx context.Context, data string) (securedemo.Result, error) {
	if err := t.work(ctx); err != nil {
		return securedemo.Result{}, err
	}
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

// ValidateResult fails unless the result is ok, and marks it validated. A
// bad result will not get better on retry, so the failure is permanent.
func (t tasks) ValidateResult(ctx context.Context, result securedemo.Result) (securedemo.Validated, error) {
	if err := t.work(ctx); err != nil {
		return securedemo.Validated{}, err
	}
	if result.Status != securedemo.ResultStatusOk {
		return securedemo.Validated{}, runtime.Permanent(errors.New("invalid result: status is " + string(result.Status)))
	}
	return securedemo.Validated{Processed: result.Processed, Status: string(result.Status), Validated: true}, nil
}
