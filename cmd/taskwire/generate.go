// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/goclient"
	"github.com/taskwire/taskwire/generator/golang"
	"github.com/taskwire/taskwire/generator/openapi"
)

// backends are the back ends of taskwire generate and taskwire init: the Go
// wiring of the service, its OpenAPI document and its Go client.
var backends = []generator.Backend{golang.Gen, openapi.Gen, goclient.Gen}

// generatedDirs are the directories, relative to the output directory,
// that hold generated files: the service's package and its client's.
var generatedDirs = []string{".", goclient.Dir}

// runGenerate writes the generated Go files, OpenAPI document and Go client
// of a spec.
//
// It owns exactly the files named taskwire_*_gen.go that start with the
// generated-code header and the files named taskwire_*_gen.json, in the
// output directory and in its client/ subdirectory: it writes only those,
// deletes the ones it no longer produces, and never touches any other file.
// A file it would write that exists without the header belongs to the user:
// generate refuses (exit 2) rather than overwrite it.
func runGenerate(e *env, args []string) int {
	flags := newFlags(e, "generate")
	out := flags.String("out", "", "write the files into this directory (default: the spec file's directory)")
	check := flags.Bool("check", false, "write nothing; list stale, missing and extra generated files and exit 1 if there are any")
	files, err := parseFlags(flags, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) != 1 {
		return usageError(e, "generate", "name exactly one spec file")
	}
	m, code := loadModel(e, "generate", files[0])
	if m == nil {
		return code
	}
	gen, err := generator.Generate(m, backends...)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
		return exitInvalid
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(files[0])
	}
	owned, err := ownedFiles(dir, gen)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
		return exitUsage
	}
	if *check {
		return checkGenerated(e, dir, gen, owned)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
		return exitUsage
	}
	for _, f := range gen {
		if old, ok := owned[f.Name]; ok && bytes.Equal(old, f.Content) {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
			return exitUsage
		}
		if err := writeAtomic(target, f.Content); err != nil {
			fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
			return exitUsage
		}
	}
	for _, name := range extraFiles(gen, owned) {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(e.stderr, "taskwire generate: %v\n", err)
			return exitUsage
		}
	}
	return exitOK
}

// checkGenerated prints every generated file of dir that differs from gen,
// is missing or is no longer generated, and returns exitInvalid if any.
func checkGenerated(e *env, dir string, gen []generator.File, owned map[string][]byte) int {
	n := 0
	for _, f := range gen {
		old, ok := owned[f.Name]
		switch {
		case !ok:
			fmt.Fprintf(e.stdout, "missing: %s\n", filepath.Join(dir, filepath.FromSlash(f.Name)))
		case !bytes.Equal(old, f.Content):
			fmt.Fprintf(e.stdout, "stale: %s\n", filepath.Join(dir, filepath.FromSlash(f.Name)))
		default:
			continue
		}
		n++
	}
	for _, name := range extraFiles(gen, owned) {
		fmt.Fprintf(e.stdout, "extra: %s\n", filepath.Join(dir, filepath.FromSlash(name)))
		n++
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "taskwire generate: %d generated files in %s are out of date; run `taskwire generate` to update them\n", n, dir)
		return exitInvalid
	}
	return exitOK
}

// isGeneratedName reports whether name has the form of a file generate owns.
func isGeneratedName(name string) bool {
	return strings.HasPrefix(name, "taskwire_") && (strings.HasSuffix(name, "_gen.go") || strings.HasSuffix(name, "_gen.json"))
}

// ownedFiles returns the content of every file generate owns in dir and its
// generated subdirectories, by slash-separated name relative to dir
// (client/taskwire_client_gen.go). It fails when a file generate would
// write exists and belongs to the user. A missing directory holds no files.
func ownedFiles(dir string, gen []generator.File) (map[string][]byte, error) {
	owned := map[string][]byte{}
	produced := map[string]bool{}
	for _, f := range gen {
		produced[f.Name] = true
	}
	for _, sub := range generatedDirs {
		entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(sub)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, ent := range entries {
			name := path.Join(sub, ent.Name())
			if !ent.Type().IsRegular() || !isGeneratedName(ent.Name()) {
				continue
			}
			file := filepath.Join(dir, filepath.FromSlash(name))
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(name, ".go") && !bytes.HasPrefix(data, []byte(golang.Header+"\n")) {
				if produced[name] {
					return nil, fmt.Errorf("%s exists and was not generated by taskwire (its first line is not %q); rename or remove it, or generate into another directory with --out", file, golang.Header)
				}
				continue
			}
			owned[name] = data
		}
	}
	return owned, nil
}

// extraFiles returns the owned files that gen no longer produces, sorted.
func extraFiles(gen []generator.File, owned map[string][]byte) []string {
	produced := map[string]bool{}
	for _, f := range gen {
		produced[f.Name] = true
	}
	var out []string
	for name := range owned {
		if !produced[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// writeAtomic writes data to path through a temporary file in the same
// directory, so that readers never see a partial file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".taskwire-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
