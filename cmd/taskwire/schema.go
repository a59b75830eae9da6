// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/taskwire/taskwire/generator/spec"
)

func runSchema(e *env, args []string) int {
	fs := newFlags(e, "schema")
	out := fs.String("o", "", "write the schema to this file instead of standard output")
	check := fs.String("check", "", "exit 1 if this file is not the current schema")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return usageError(e, "schema", "unexpected argument %q", rest[0])
	}
	schema := spec.Schema()
	switch {
	case *check != "":
		have, err := os.ReadFile(*check)
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintf(e.stderr, "taskwire schema: %v\n", err)
			return exitUsage
		}
		if !bytes.Equal(have, schema) {
			fmt.Fprintf(e.stderr, "taskwire schema: %s is stale; run `taskwire schema -o %s`\n", *check, *check)
			return exitInvalid
		}
		return exitOK
	case *out != "":
		if err := os.WriteFile(*out, schema, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "taskwire schema: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	_, err = e.stdout.Write(schema)
	if err != nil {
		return exitUsage
	}
	return exitOK
}

// writeJSON writes v as indented JSON to stdout.
func writeJSON(e *env, name string, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		_, err = e.stdout.Write(append(b, '\n'))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire %s: %v\n", name, err)
		return exitUsage
	}
	return exitOK
}
