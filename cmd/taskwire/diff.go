// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/diff"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/generator/spec"
)

func runDiff(e *env, args []string) int {
	fs := newFlags(e, "diff")
	format := fs.String("format", "text", "output format: text, json or github")
	all := fs.Bool("all", false, "also list compatible changes, as info")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if !oneOf(*format, "text", "json", "github") {
		return usageError(e, "diff", "unknown format %q; use text, json or github", *format)
	}
	if len(files) != 2 {
		return usageError(e, "diff", "name two versions of a spec, OLD and NEW (files, or REF:PATH read from git)")
	}
	var models [2]*model.Model
	var invalid []diag.Diagnostic
	for i, arg := range files {
		data, err := readVersion(arg)
		if err != nil {
			fmt.Fprintf(e.stderr, "taskwire diff: %v\n", err)
			return exitUsage
		}
		m, ds := model.Load(arg, data)
		if m == nil {
			errs, _ := diag.Counts(ds)
			fmt.Fprintf(e.stderr, "taskwire diff: %s is invalid (%d %s); fix it before comparing\n", arg, errs, plural(errs, "error", "errors"))
			invalid = append(invalid, ds...)
		}
		models[i] = m
	}
	if invalid != nil {
		if err := writeDiagnostics(e, *format, invalid); err != nil {
			fmt.Fprintf(e.stderr, "taskwire diff: %v\n", err)
		}
		return exitUsage
	}

	var shown []diag.Diagnostic
	infos := 0
	for _, d := range diff.Compare(models[0], models[1]) {
		if d.Severity == diag.Info {
			infos++
			if !*all {
				continue
			}
		}
		shown = append(shown, d)
	}
	if err := writeDiagnostics(e, *format, shown); err != nil {
		fmt.Fprintf(e.stderr, "taskwire diff: %v\n", err)
		return exitUsage
	}
	errs, warns := diag.Counts(shown)
	if *format == "text" {
		hidden := ""
		if !*all && infos > 0 {
			hidden = " (--all lists " + plural(infos, "it", "them") + ")"
		}
		fmt.Fprintf(e.stderr, "%d breaking %s, %d %s, %d compatible %s%s\n", errs, plural(errs, "change", "changes"), warns, plural(warns, "warning", "warnings"), infos, plural(infos, "change", "changes"), hidden)
	}
	if errs > 0 {
		return exitInvalid
	}
	return exitOK
}

func writeDiagnostics(e *env, format string, ds []diag.Diagnostic) error {
	switch format {
	case "json":
		return diag.WriteJSON(e.stdout, ds)
	case "github":
		return diag.WriteGitHub(e.stdout, ds)
	}
	return diag.WriteText(e.stdout, ds)
}

// readVersion reads one version of a spec: a file, or REF:PATH, the file at
// PATH in git revision REF (`git show REF:PATH`, so PATH is relative to the
// repository's top, or to the current folder when it starts with ./). An
// existing file wins over the git form.
func readVersion(arg string) ([]byte, error) {
	if _, err := os.Stat(arg); err == nil || !strings.Contains(arg, ":") {
		return readSpec(arg)
	}
	ref, path, _ := strings.Cut(arg, ":")
	if ref == "" || path == "" || strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("%s: no such file, and not REF:PATH (a git revision and a path in it, for example main:taskwire.yaml)", arg)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("git", "show", arg)
	cmd.Stdout, cmd.Stderr = &limitedWriter{w: &stdout, n: spec.MaxSize + 1}, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("git show %s: %s", arg, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("reading %s from git: %w", arg, err)
	}
	return stdout.Bytes(), nil
}

// limitedWriter keeps the first n bytes written to it and drops the rest,
// so a huge blob cannot exhaust memory; the parser refuses what is over
// spec.MaxSize anyway.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
