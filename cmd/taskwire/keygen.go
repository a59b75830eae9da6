// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"regexp"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,16}$`)

func runKeygen(e *env, args []string) int {
	fs := newFlags(e, "keygen")
	prefix := fs.String("prefix", "sk_", "a recognisable prefix for the key (letters, digits, _ and -, up to 16)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return usageError(e, "keygen", "unexpected argument %q", rest[0])
	}
	if !prefixRE.MatchString(*prefix) {
		return usageError(e, "keygen", "prefix %q must be up to 16 letters, digits, _ or -", *prefix)
	}
	key, sum := httpapi.NewKey(*prefix)
	fmt.Fprintf(e.stdout, "key:    %s\nsha256: %s\n", key, sum)
	fmt.Fprintf(e.stderr, "Give the key to its client once; put either `env: VARIABLE` (holding the key) or `sha256: %s` in the spec.\n", sum)
	return exitOK
}
