// SPDX-License-Identifier: Apache-2.0

// Package specgen writes synthetic specs for benchmarks and tests of the
// generator at scale.
package specgen

import (
	"fmt"
	"strings"
)

// Large returns a valid spec with the given number of pipelines, each a
// chain of tasksPer tasks passing named-type values, plus keys and ACLs.
func Large(pipelines, tasksPer int) []byte {
	var b strings.Builder
	b.WriteString("taskwire: 1\npackage: large\ntypes:\n")
	const types = 20
	for i := 0; i < types; i++ {
		fmt.Fprintf(&b, "  Payload%d:\n    fields:\n      id: string\n      count: {type: int, min: 0}\n      label: {type: string, max_length: 100}\n      tags: \"[]string?\"\n      state: {type: string, enum: [new, done]}\n", i)
	}
	b.WriteString("tasks:\n")
	for p := 0; p < pipelines; p++ {
		for t := 0; t < tasksPer; t++ {
			fmt.Fprintf(&b, "  p%d_t%d:\n    inputs:\n", p, t)
			if t == 0 {
				fmt.Fprintf(&b, "      seed_%d: {type: string, max_length: 1000}\n", p)
			} else {
				fmt.Fprintf(&b, "      v%d_%d: Payload%d\n", p, t-1, (p+t-1)%types)
			}
			fmt.Fprintf(&b, "    output: v%d_%d\n    type: Payload%d\n    timeout: 30s\n    retry: {attempts: 3, backoff: 100ms}\n", p, t, (p+t)%types)
		}
	}
	b.WriteString("pipelines:\n")
	for p := 0; p < pipelines; p++ {
		fmt.Fprintf(&b, "  pipe_%d:\n    tasks: [", p)
		for t := tasksPer - 1; t >= 0; t-- { // listed backwards: the resolver must order them
			if t != tasksPer-1 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "p%d_t%d", p, t)
		}
		fmt.Fprintf(&b, "]\n    rate_limit: %d/minute\n", p+1)
	}
	b.WriteString("security:\n  keys:\n")
	for k := 0; k < 10; k++ {
		fmt.Fprintf(&b, "    key_%d: {env: KEY_%d, role: role_%d, pipelines: [\"pipe_%d*\"]}\n", k, k, k%3, k)
	}
	b.WriteString("  acls:\n")
	for k := 0; k < 10; k++ {
		fmt.Fprintf(&b, "    \"pipe_%d*\": {read: [role_0, role_1], execute: [role_%d]}\n", k, k%3)
	}
	b.WriteString("  rate_limits: {default: 60/minute}\n")
	return []byte(b.String())
}
