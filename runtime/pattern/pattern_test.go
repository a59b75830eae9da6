// SPDX-License-Identifier: Apache-2.0

package pattern

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything", true},
		{"*", "", true},
		{"report_*", "report_daily", true},
		{"report_*", "report_", true},
		{"report_*", "reports_daily", false},
		{"report_*", "Report_daily", false},
		{"report_*", "xreport_a", false},
		{"report_*", "report", false},
		{"*_daily", "report_daily", true},
		{"*_daily", "report_daily_x", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*b*c", "acb", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"**", "x", true},
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, ok := range []string{"*", "report_*", "a1_b*", "secure_demo_pipeline"} {
		if err := Valid(ok); err != nil {
			t.Errorf("Valid(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "report?", "Report_*", "re[a-z]", "a.b", "report-*", string(make([]byte, MaxLen+1))} {
		if err := Valid(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Valid(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// matchRef is an obviously correct (exponential) reference matcher.
func matchRef(p, n string) bool {
	if p == "" {
		return n == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(n); i++ {
			if matchRef(p[1:], n[i:]) {
				return true
			}
		}
		return false
	}
	return n != "" && p[0] == n[0] && matchRef(p[1:], n[1:])
}

func FuzzMatch(f *testing.F) {
	f.Add("report_*", "report_daily")
	f.Add("a*b*c", "axbxc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, p, n string) {
		if len(p) > 12 || len(n) > 24 {
			return // keep the reference matcher fast
		}
		if got, want := Match(p, n), matchRef(p, n); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", p, n, got, want)
		}
	})
}
