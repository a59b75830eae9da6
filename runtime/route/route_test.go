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

// Public routes are never limited by the spec's limits; the console's
// routes have their own limit per client address, which applies when the
// spec's limits are on.
func TestPublicRouteLimits(t *testing.T) {
	table := Table([]string{"p"}, false)
	spec := &Limits{Default: &Rate{N: 1, Per: time.Hour}, Routes: map[string]Rate{"health": {N: 2, Per: time.Hour}}}
	spec.Apply(table)
	seen := map[string]bool{}
	for _, r := range table {
		switch r.OperationID {
		case Health:
			if !r.Public || r.Limit != nil {
				t.Errorf("health: public %v, limit %v", r.Public, r.Limit)
			}
		case Console, ConsoleFile:
			if !r.Public || r.Limit == nil || *r.Limit != ConsoleRate {
				t.Errorf("%s: public %v, limit %v", r.OperationID, r.Public, r.Limit)
			}
		default:
			if r.Public || r.Limit == nil || *r.Limit != *spec.Default {
				t.Errorf("%s: public %v, limit %v", r.OperationID, r.Public, r.Limit)
			}
		}
		seen[r.OperationID] = true
	}
	if !seen[Console] || !seen[ConsoleFile] {
		t.Fatalf("no console routes in %v", seen)
	}
	for _, n := range Names(table) {
		if n == Console || n == ConsoleFile || n == Health {
			t.Errorf("the spec may name public route %s", n)
		}
	}
	// Without the spec's limits nothing is limited.
	var none *Limits
	none.Apply(table)
	for _, r := range table {
		if r.Limit != nil {
			t.Errorf("%s limited without limits", r.OperationID)
		}
	}
	// Each table has its own copy of the console's limit.
	for _, r := range Table(nil, false) {
		if r.AddressLimit != nil {
			r.AddressLimit.N = 1
		}
	}
	if ConsoleRate.N == 1 {
		t.Error("a table's route shares the package's ConsoleRate")
	}
}
