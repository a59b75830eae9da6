// SPDX-License-Identifier: Apache-2.0

package diff_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/diff"
	"github.com/taskwire/taskwire/generator/model"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden cases")

// TestGolden runs every case under testdata/diff: old.yaml and new.yaml, and
// in want every change Compare reports between them, as
// `taskwire diff --all old.yaml new.yaml` prints it in that folder.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/diff/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases under testdata/diff")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			before, after := load(t, dir, "old.yaml"), load(t, dir, "new.yaml")
			var got bytes.Buffer
			if err := diag.WriteText(&got, diff.Compare(before, after)); err != nil {
				t.Fatal(err)
			}
			wantFile := filepath.Join(dir, "want")
			if *update {
				if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run `go test ./generator/diff -run TestGolden -update` and review the diff)", err)
			}
			if got.String() != string(want) {
				t.Errorf("changes differ\n--- got\n%s--- want\n%s", got.String(), want)
			}
			// A case named for a safe change must hold infos only; every
			// other case but the unchanged one must report something worse.
			safe := strings.HasPrefix(filepath.Base(dir), "safe_")
			breaking := strings.Contains(string(want), ": error: ") || strings.Contains(string(want), ": warning: ")
			switch {
			case filepath.Base(dir) == "no_change":
				if len(want) != 0 {
					t.Errorf("identical specs report changes:\n%s", want)
				}
			case safe && (breaking || len(want) == 0):
				t.Errorf("a safe change must be reported as info only, and at least once")
			case !safe && !breaking:
				t.Errorf("case reports no error or warning; name safe changes safe_*")
			}
			// Comparing a spec with itself finds nothing.
			if ds := diff.Compare(after, after); len(ds) != 0 {
				t.Errorf("new.yaml compared with itself: %v", ds)
			}
		})
	}
}

func load(t *testing.T, dir, name string) *model.Model {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	m, ds := model.Load(name, data)
	if m == nil {
		t.Fatalf("%s is invalid: %v", name, ds)
	}
	return m
}

// TestDocsExamplesAreReal keeps docs/diff.md honest: every example line it
// quotes is a line that some golden case prints.
func TestDocsExamplesAreReal(t *testing.T) {
	doc, err := os.ReadFile("../../docs/diff.md")
	if err != nil {
		t.Fatal(err)
	}
	wants, _ := filepath.Glob("../../testdata/diff/*/want")
	printed := map[string]bool{}
	for _, w := range wants {
		data, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			printed[line] = true
		}
	}
	examples := 0
	parts := strings.Split(string(doc), "`")
	for i := 1; i < len(parts); i += 2 { // the text between backticks
		quote := parts[i]
		if !strings.HasPrefix(quote, "old.yaml:") && !strings.HasPrefix(quote, "new.yaml:") {
			continue
		}
		examples++
		if !printed[quote] {
			t.Errorf("docs/diff.md quotes a line no golden case prints:\n%s", quote)
		}
	}
	if examples < 30 {
		t.Errorf("docs/diff.md quotes %d example lines; the tables hold more", examples)
	}
}

// TestComparePairs compares every pair of valid specs in the repository,
// however unrelated: no panic, and every change points into one of the two
// files.
func TestComparePairs(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"../../specs/*.yaml", "../../testdata/generate/*/taskwire.yaml", "../../testdata/validate/ok_*/taskwire.yaml", "../../testdata/diff/*/new.yaml"} {
		ps, _ := filepath.Glob(pattern)
		paths = append(paths, ps...)
	}
	var models []*model.Model
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := model.Load(p, data); m != nil {
			models = append(models, m)
		}
	}
	if len(models) < 20 {
		t.Fatalf("only %d valid specs found", len(models))
	}
	for _, a := range models {
		for _, b := range models {
			for _, d := range diff.Compare(a, b) {
				if (d.Pos.File != a.File && d.Pos.File != b.File) || d.Pos.Line < 1 || d.Pos.Col < 1 || d.Message == "" {
					t.Fatalf("%s -> %s: %+v", a.File, b.File, d)
				}
			}
		}
	}
}
