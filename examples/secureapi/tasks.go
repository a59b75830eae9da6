// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"strings"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
)

// tasks implements the demo's two tasks.
type tasks struct{}

// ProcessData upper-cases the input.
func (tasks) ProcessData(ctx context.Context, data string) (securedemo.Result, error) {
	return securedemo.Result{Processed: strings.ToUpper(data), Status: securedemo.ResultStatusOk}, nil
}

// ValidateResult fails unless the result is ok, and marks it validated. A
// bad result will not get better on retry, so the failure is permanent.
func (tasks) ValidateResult(ctx context.Context, result securedemo.Result) (securedemo.Validated, error) {
	if result.Status != securedemo.ResultStatusOk {
		return securedemo.Validated{}, runtime.Permanent(errors.New("invalid result: status is " + string(result.Status)))
	}
	return securedemo.Validated{Processed: result.Processed, Status: string(result.Status), Validated: true}, nil
}
