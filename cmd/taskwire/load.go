// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/generator/spec"
)

// readSpec reads a spec file, refusing files larger than spec.MaxSize.
func readSpec(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// loadModel reads and resolves one spec, printing its diagnostics as text on
// stderr. It returns nil and the exit code when the spec cannot be used.
func loadModel(e *env, name, path string) (*model.Model, int) {
	data, err := readSpec(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire %s: %v\n", name, err)
		return nil, exitUsage
	}
	m, ds := model.Load(path, data)
	_ = diag.WriteText(e.stderr, ds)
	if m == nil {
		errs, _ := diag.Counts(ds)
		fmt.Fprintf(e.stderr, "taskwire %s: %s is invalid (%d errors); run `taskwire validate %s`\n", name, path, errs, path)
		return nil, exitInvalid
	}
	return m, exitOK
}
