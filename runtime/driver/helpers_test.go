// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"testing"

	"github.com/taskwire/taskwire/internal/testutil"
)

func testCtx(t *testing.T) context.Context { return testutil.Context(t) }

type fakeClock = testutil.Clock

func newFakeClock() *fakeClock { return testutil.NewClock() }
