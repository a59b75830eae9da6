// SPDX-License-Identifier: Apache-2.0

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
	partial := fs.Bool("partial", false, "accept a chain that starts after record 1 (older rotated files removed on purpose)")
	files, err := parseFlags(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		return usageError(e, "audit", "name the audit files, oldest first (rotated files, then the current one)")
	}
	verify := audit.Verify
	if *partial {
		verify = audit.VerifyPartial
	}
	sum, err := verify(files...)
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
	intents := ""
	if sum.Intents > 0 {
		intents = fmt.Sprintf(" (%d intent records, %d answered)", sum.Intents, sum.Intents-uint64(len(sum.Open)))
	}
	if sum.Records > 0 && sum.First != 1 {
		fmt.Fprintf(e.stdout, "ok: %d records%s (%d to %d), chain intact from record %d; last hash %s\n", sum.Records, intents, sum.First, sum.First+sum.Records-1, sum.First, sum.Head)
	} else {
		fmt.Fprintf(e.stdout, "ok: %d records%s, chain intact; last hash %s\n", sum.Records, intents, sum.Head)
	}
	// An intent without its request record is not a break: the server
	// stopped while serving it. Whether its action happened (a run started,
	// a run cancelled) is for the run store to say.
	for _, in := range sum.Open {
		fmt.Fprintf(e.stdout, "%s:%d: record %d: intent of request %s (%s) has no request record: the server stopped while serving it\n", in.File, in.Line, in.Seq, in.RequestID, in.Route)
	}
	return exitOK
}
