// SPDX-License-Identifier: Apache-2.0

package runtime

import "testing"

func TestWithoutGen(t *testing.T) {
	for in, want := range map[string]string{
		"R/t/-1":     "R/t/-1",
		"R/t/3/g2":   "R/t/3",
		"R/t/-1/g10": "R/t/-1",
		"R/t/3/gx":   "R/t/3/gx",
		"R/t/3/g":    "R/t/3/g",
	} {
		if got := withoutGen(in); got != want {
			t.Errorf("withoutGen(%q) = %q, want %q", in, got, want)
		}
	}
}
