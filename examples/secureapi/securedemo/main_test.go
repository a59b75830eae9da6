// SPDX-License-Identifier: Apache-2.0

package securedemo_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the tests and examples in a temporary working directory, so
// that the audit log the spec asks for is not written into the source tree.
func TestMain(m *testing.M) {
	os.Exit(runInTempDir(m))
}

func runInTempDir(m *testing.M) int {
	dir, err := os.MkdirTemp("", "securedemo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
