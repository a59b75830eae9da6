package main

import (
	"errors"
	"fmt"

	"github.com/taskwire/taskwire/runtime/audit"
)

// runAudit serves `taskwire audit verify FILE...`.
func runAudit(e *env, args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		return usageError(e, "audit", "the only audit command is verify")
	}
	fs := newFlags(e, "audit")
	files, err := parseFlags(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		return usageError(e, "audit", "name the audit files, oldest first (rotated files, then the current one)")
	}
	sum, err := audit.Verify(files...)
	var p *audit.Problem
	switch {
	case errors.As(err, &p):
		fmt.Fprintf(e.stdout, "%s\n", p.Error())
		fmt.Fprintf(e.stderr, "taskwire audit verify: the chain breaks after %d intact records\n", sum.Records)
		return exitInvalid
	case err != nil:
		fmt.Fprintf(e.stderr, "taskwire audit verify: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "ok: %d records, chain intact; last hash %s\n", sum.Records, sum.Head)
	return exitOK
}
