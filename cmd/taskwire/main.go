// SPDX-License-Identifier: Apache-2.0

// Command taskwire validates taskwire specs and generates typed Go task
// wiring, a secure HTTP server and an OpenAPI document from them.
//
// Usage:
//
//	taskwire validate [--format text|json|github] [--strict] FILE...
//	taskwire diff     [--format text|json|github] [--all] OLD NEW
//	taskwire graph    [--pipeline ID] [--format mermaid|dot|json|svg] FILE
//	taskwire openapi  [--format json|yaml] [-o FILE] FILE
//	taskwire init     [--module PATH] DIR
//	taskwire schema   [-o FILE] [--check FILE]
//	taskwire keygen   [--prefix sk_] [--append FILE --id ID --role R --pipelines P [--expires T]]
//	taskwire token    --sub ID [--spec FILE] [--role R] [--pipelines P] [--ttl 1h]
//	taskwire audit    verify FILE...
//	taskwire dead-letters list [--url URL] [--pipeline ID] | requeue ID...
//	taskwire rerun    [--url URL] RUN_ID...
//	taskwire version
//
// Exit codes: 0 success; 1 the spec is invalid, generated files are stale,
// diff found a breaking change or a service refused a call; 2 usage or I/O
// errors (for diff, also an invalid spec; for the service commands, a
// service that cannot be reached).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
)

// command is one verb of the CLI.
type command struct {
	usage string
	short string
	run   func(env *env, args []string) int
}

// commands is filled in init: its entries refer back to it for usage text.
var commands map[string]command

func init() {
	commands = map[string]command{
		"validate":     {usage: "validate [--format text|json|github] [--strict] FILE...", short: "check specs and print every problem found", run: runValidate},
		"diff":         {usage: "diff [--format text|json|github] [--all] OLD NEW", short: "report what changed between two versions of a spec for callers (OLD, NEW: files or REF:PATH in git)", run: runDiff},
		"generate":     {usage: "generate [--out DIR] [--check] FILE", short: "write the typed Go wiring, server and OpenAPI document of a spec", run: runGenerate},
		"init":         {usage: "init [--module PATH] DIR", short: "scaffold a new service that builds, runs and passes go test", run: runInit},
		"audit":        {usage: "audit verify [--partial] [--key-env NAME] [--checkpoint SEQ:HASH]... [--allow-empty] FILE...", short: "check an audit log's hash chain (rotated files first), its MACs with --key-env, and that it passes through each checkpoint", run: runAudit},
		"token":        {usage: "token --sub ID [--spec FILE] [--role R] [--pipelines P] [--ttl 1h]", short: "mint an HMAC development token (settings from --spec's security.jwt, or TASKWIRE_JWT_SECRET and HS256)", run: runToken},
		"graph":        {usage: "graph [--pipeline ID] [--format mermaid|dot|json|svg] FILE", short: "print a pipeline's task graph", run: runGraph},
		"openapi":      {usage: "openapi [--format json|yaml] [-o FILE] FILE", short: "print the OpenAPI 3 document of a spec's API", run: runOpenAPI},
		"schema":       {usage: "schema [-o FILE] [--check FILE]", short: "print the JSON Schema of the spec format", run: runSchema},
		"keygen":       {usage: "keygen [--prefix sk_] [--append FILE --id ID --role R --pipelines P [--expires T] [--description D]]", short: "make a strong random API key and its sha256 (--append: add its entry to a keys file)", run: runKeygen},
		"dead-letters": {usage: "dead-letters list [--url URL] [--pipeline ID] [--limit N] [--all] [--format text|json] | requeue [--url URL] ID...", short: "list a running service's dead letters, or requeue them (credential from TASKWIRE_API_KEY or TASKWIRE_TOKEN)", run: runDeadLetters},
		"rerun":        {usage: "rerun [--url URL] RUN_ID...", short: "start new runs of a running service with the inputs of finished ones", run: runRerun},
		"version":      {usage: "version", short: "print taskwire's version", run: runVersion},
	}
}

// env is what a command may touch, so tests can run commands in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	os.Exit(run(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "taskwire: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	return cmd.run(e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: taskwire COMMAND [ARGS]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-60s %s\n", commands[name].usage, commands[name].short)
	}
}

// newFlags returns a flag set for a command that reports errors, not exits.
func newFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: taskwire %s\n", commands[name].usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags wherever they stand among the arguments
// (`validate a.yaml --strict` works) and returns the positional arguments.
// A lone `--` ends the flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports a usage problem and returns exitUsage.
func usageError(e *env, name, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "taskwire %s: %s\n", name, fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "Usage: taskwire %s\n", commands[name].usage)
	return exitUsage
}

// flagExit maps a flag parsing error to an exit code.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func quoteList(vs []string) string { return strings.Join(vs, "|") }
