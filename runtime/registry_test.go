// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"errors"
	"testing"
)

func TestInputHelper(t *testing.T) {
	in := NewInputs(map[string]any{"n": 5, "s": "x"})
	if n, err := Input[int](in, "n"); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	_, err := Input[int](in, "missing")
	if !errors.Is(err, ErrMissingInput) || !IsPermanent(err) {
		t.Fatal(err)
	}
	_, err = Input[int](in, "s")
	if !errors.Is(err, ErrDecode) || !IsPermanent(err) {
		t.Fatal(err)
	}
	if in.Index() != -1 || in.Attempt() != 1 {
		t.Fatal(in.Index(), in.Attempt())
	}
}
