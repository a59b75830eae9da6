// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestBufferLines(t *testing.T) {
	var b Buffer
	fmt.Fprint(&b, "level=INFO msg=a x=1\nlevel=ERROR msg=b x=2\nlevel=ERROR msg=c")
	if got, want := b.Lines(), []string{"level=INFO msg=a x=1", "level=ERROR msg=b x=2", "level=ERROR msg=c"}; !slices.Equal(got, want) {
		t.Errorf("Lines() = %q, want %q", got, want)
	}
	if got, want := b.Lines("level=ERROR", "x=2"), []string{"level=ERROR msg=b x=2"}; !slices.Equal(got, want) {
		t.Errorf("Lines(level=ERROR, x=2) = %q, want %q", got, want)
	}
	if got := b.Lines("level=WARN"); got != nil {
		t.Errorf("Lines(level=WARN) = %q, want none", got)
	}
}

// Writes and reads from many goroutines at once (run with -race).
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d %d\n", i, j)
				_ = b.Lines("w")
			}
		})
	}
	wg.Wait()
	if n := len(b.Lines()); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}
