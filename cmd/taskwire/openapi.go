// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"

	"github.com/taskwire/taskwire/generator/openapi"
)

func runOpenAPI(e *env, args []string) int {
	fs := newFlags(e, "openapi")
	format := fs.String("format", "json", "output format: json or yaml")
	out := fs.String("o", "", "write the document to this file instead of standard output")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if !oneOf(*format, "json", "yaml") {
		return usageError(e, "openapi", "unknown format %q; use json or yaml", *format)
	}
	if len(files) != 1 {
		return usageError(e, "openapi", "name exactly one spec file")
	}
	m, code := loadModel(e, "openapi", files[0])
	if m == nil {
		return code
	}
	gen := openapi.JSON
	if *format == "yaml" {
		gen = openapi.YAML
	}
	doc, err := gen(m)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire openapi: %v\n", err)
		return exitInvalid
	}
	if *out != "" {
		if err := os.WriteFile(*out, doc, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "taskwire openapi: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if _, err := e.stdout.Write(doc); err != nil {
		return exitUsage
	}
	return exitOK
}
