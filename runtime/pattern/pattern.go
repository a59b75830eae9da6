// SPDX-License-Identifier: Apache-2.0

// Package pattern matches pipeline ids against the access patterns of keys,
// tokens and ACLs. A pattern is a pipeline id in which `*` stands for any run
// of characters (including none); it is the only wildcard, and matching is
// case-sensitive and anchored at both ends: "report_*" matches "report_daily"
// but not "reports_daily", "Report_daily" or "report".
package pattern

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by the error Valid returns for a malformed pattern.
var ErrInvalid = errors.New("invalid pipeline pattern")

// MaxLen is the longest pattern Valid accepts.
const MaxLen = 256

// Valid reports whether p is a well-formed pattern: 1 to MaxLen characters,
// each a lowercase letter, digit, underscore or `*`.
func Valid(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty pattern", ErrInvalid)
	}
	if len(p) > MaxLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '*' || c == '_' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			continue
		}
		return fmt.Errorf("%w: %q at offset %d; pipeline patterns hold lowercase letters, digits, `_` and `*` (the only wildcard)", ErrInvalid, string(c), i)
	}
	return nil
}

// Match reports whether name matches pattern. It runs in O(len(pattern) *
// len(name)) time at worst, without recursion or allocation, so hostile
// patterns or names cannot make it slow.
func Match(pattern, name string) bool {
	// Greedy matching with backtracking to the last star only: linear for
	// typical patterns, quadratic at worst.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchAny reports whether name matches any of patterns.
func MatchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}
