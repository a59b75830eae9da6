// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

func runValidate(e *env, args []string) int {
	fs := newFlags(e, "validate")
	format := fs.String("format", "text", "output format: text, json or github")
	strict := fs.Bool("strict", false, "fail on warnings too")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if !oneOf(*format, "text", "json", "github") {
		return usageError(e, "validate", "unknown format %q; use text, json or github", *format)
	}
	if len(files) == 0 {
		return usageError(e, "validate", "name at least one spec file")
	}
	var all []diag.Diagnostic
	for _, path := range files {
		data, err := readSpec(path)
		if err != nil {
			fmt.Fprintf(e.stderr, "taskwire validate: %v\n", err)
			return exitUsage
		}
		_, ds := model.Load(path, data)
		all = append(all, ds...)
	}
	switch *format {
	case "json":
		err = diag.WriteJSON(e.stdout, all)
	case "github":
		err = diag.WriteGitHub(e.stdout, all)
	default:
		err = diag.WriteText(e.stdout, all)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire validate: %v\n", err)
		return exitUsage
	}
	errs, warns := diag.Counts(all)
	if *format == "text" {
		fmt.Fprintf(e.stderr, "%d %s checked: %d %s, %d %s\n", len(files), plural(len(files), "spec", "specs"), errs, plural(errs, "error", "errors"), warns, plural(warns, "warning", "warnings"))
	}
	if errs > 0 || (*strict && warns > 0) {
		return exitInvalid
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
