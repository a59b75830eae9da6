// SPDX-License-Identifier: Apache-2.0

package route

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{"10/minute": {10, time.Minute}, "1/second": {1, time.Second}, "5/day": {5, 24 * time.Hour}} {
		r, err := ParseRate(in)
		if err != nil || r != want || r.String() != in {
			t.Errorf("ParseRate(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"", "0/minute", "10/minutes", "10 / minute", "-1/second", "1e3/hour", "99999999999/second", "/minute"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}
