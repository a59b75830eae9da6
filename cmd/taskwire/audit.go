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
	keyEnv := fs.String("key-env", "", "environment variable holding the chain key (the spec's security.audit.key_env): check each record's MAC, and refuse a chain recomputed without the key")
	allowEmpty := fs.Bool("allow-empty", false, "accept a log with no record (a new log); an empty log is refused otherwise, and always when a checkpoint names a record")
	var cps []audit.Checkpoint
	fs.Func("checkpoint", "a checkpoint the log must pass through: SEQ:HASH, or the server's \"audit checkpoint\" log line (repeatable)", func(s string) error {
		cp, err := audit.ParseCheckpoint(s)
		if err != nil {
			return err
		}
		cps = append(cps, cp)
		return nil
	})
	files, err := parseFlags(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		return usageError(e, "audit", "name the audit files, oldest first (rotated files, then the current one)")
	}
	opts := audit.VerifyOptions{Partial: *partial, Checkpoints: cps, RefuseEmpty: !*allowEmpty}
	if *keyEnv != "" {
		if opts.Key, err = audit.KeyFromEnv(*keyEnv, e.getenv); err != nil {
			fmt.Fprintf(e.stderr, "taskwire audit verify: %v\n", err)
			return exitUsage
		}
	}
	sum, err := audit.VerifyWith(opts, files...)
	var p *audit.Problem
	switch {
	case errors.As(err, &p):
		fmt.Fprintf(e.stdout, "%s\n", p.Error())
		fmt.Fprintf(e.stderr, "taskwire audit verify: the chain breaks after %d intact records\n", sum.Records)
		return exitInvalid
	case err != nil: // I/O, a keyed log without its key (audit.ErrKeyNeeded), a forged checkpoint

		fmt.Fprintf(e.stderr, "taskwire audit verify: %v\n", err)
		return exitUsage
	}
	intents := ""
	if sum.Intents > 0 {
		intents = fmt.Sprintf(" (%d intent records, %d answered)", sum.Intents, sum.Intents-uint64(len(sum.Open)))
	}
	if sum.Records > 0 && sum.First != 1 {
		fmt.Fprintf(e.stdout, "ok: %d records%s (%d to %d), chain intact from record %d%s; last hash %s\n", sum.Records, intents, sum.First, sum.Last, sum.First, anchored(sum), sum.Head)
	} else {
		fmt.Fprintf(e.stdout, "ok: %d records%s, chain intact%s; last hash %s\n", sum.Records, intents, anchored(sum), sum.Head)
	}
	// An intent without its request record is not a break: the server
	// stopped while serving it. Whether its action happened (a run started,
	// a run cancelled) is for the run store to say.
	for _, in := range sum.Open {
		fmt.Fprintf(e.stdout, "%s:%d: record %d: intent of request %s (%s) has no request record: the server stopped while serving it\n", in.File, in.Line, in.Seq, in.RequestID, in.Route)
	}
	// Nor is a recovery record: the server cut a torn line at restart and
	// kept its bytes; the torn record's number is given to no other record.
	for _, r := range sum.Recoveries {
		fmt.Fprintf(e.stdout, "%s:%d: record %d: recovery: record %d was torn by a crash; its %d bytes were cut at restart and are kept in this record\n", r.File, r.Line, r.Seq, r.TornSeq, r.TornBytes)
	}
	return exitOK
}

// anchored says what the chain was checked against beyond itself, for the
// ok line (empty when nothing was).
func anchored(sum audit.Summary) string {
	s := ""
	switch {
	case sum.KeyedFrom == 1:
		s = ", keyed"
	case sum.KeyedFrom > 1:
		s = fmt.Sprintf(", keyed from record %d", sum.KeyedFrom)
	}
	if sum.Checkpoints > 0 {
		s += fmt.Sprintf(", through %d checkpoint(s)", sum.Checkpoints)
	}
	return s
}
