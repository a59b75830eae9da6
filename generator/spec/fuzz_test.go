// SPDX-License-Identifier: Apache-2.0

package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

// FuzzParse feeds arbitrary bytes through the parser and the resolver: no
// input may panic, and every diagnostic must point into the file.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./generator/spec
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/validate/*/taskwire.yaml")
	specs, _ := filepath.Glob("../../specs/*.yaml")
	for _, path := range append(seeds, specs...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("taskwire: 1\npackage: p\ntasks: {a: {output: x, type: '[]map[string]int?'}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ds := model.Load("f.yaml", data)
		errs, _ := diag.Counts(ds)
		if (m == nil) != (errs > 0) {
			t.Fatalf("model nil = %v with %d errors", m == nil, errs)
		}
		for i, d := range ds {
			if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Message == "" {
				t.Fatalf("diagnostic without a position or message: %+v", d)
			}
			if i > 0 && d.Pos.Before(ds[i-1].Pos) {
				t.Fatalf("diagnostics not sorted: %v before %v", ds[i-1], d)
			}
		}
	})
}
