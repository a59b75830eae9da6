// SPDX-License-Identifier: Apache-2.0

package goclient

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator/gocode"
	"github.com/taskwire/taskwire/generator/model"
)

var update = flag.Bool("update", false, "rewrite the generated clients of the golden cases")

// golden is one spec and the directory its generated client is kept in
// (want/ of a golden case, or testdata/specs/<name>/ for a spec of specs/),
// relative to the module root.
type golden struct {
	name, spec, out string
}

// goldens lists every golden case of testdata/generate and every spec of
// specs/.
func goldens(t *testing.T) []golden {
	t.Helper()
	var out []golden
	cases, _ := filepath.Glob("../../testdata/generate/*/taskwire.yaml")
	for _, c := range cases {
		dir := filepath.Dir(c)
		out = append(out, golden{name: "case/" + filepath.Base(dir), spec: c, out: filepath.Join(dir, "want")})
	}
	specs, _ := filepath.Glob("../../specs/*.yaml")
	for _, s := range specs {
		name := strings.TrimSuffix(filepath.Base(s), ".yaml")
		out = append(out, golden{name: "spec/" + name, spec: s, out: filepath.Join("testdata", "specs", name)})
	}
	if len(cases) == 0 || len(specs) < 3 {
		t.Fatalf("found %d golden cases and %d specs", len(cases), len(specs))
	}
	return out
}

func load(t *testing.T, file string) *model.Model {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, ds := model.Load(file, data)
	if m == nil {
		t.Fatalf("%s does not load: %v", file, ds)
	}
	return m
}

func generate(t *testing.T, g golden) []byte {
	t.Helper()
	files, err := Gen(load(t, g.spec))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != File {
		t.Fatalf("Gen wrote %d files, want only %s", len(files), File)
	}
	return files[0].Content
}

// TestGolden regenerates the client of every golden and compares it byte for
// byte; -update rewrites them (review the diff).
func TestGolden(t *testing.T) {
	for _, g := range goldens(t) {
		t.Run(g.name, func(t *testing.T) {
			got := generate(t, g)
			path := filepath.Join(g.out, filepath.FromSlash(File))
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./generator/goclient -run Golden -update`)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("%s is stale (run `go test ./generator/goclient -run Golden -update` and review the diff)", path)
			}
			again := generate(t, g)
			if !bytes.Equal(again, got) {
				t.Error("a second generation differs: the output is not deterministic")
			}
			if fmtd, err := format.Source(got); err != nil || !bytes.Equal(fmtd, got) {
				t.Errorf("the client is not gofmt-clean (%v)", err)
			}
			if !bytes.HasPrefix(got, []byte(gocode.Header+"\n")) {
				t.Errorf("the client does not start with %q", gocode.Header)
			}
		})
	}
}

// parse parses a generated client.
func parse(t *testing.T, src []byte) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), File, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The client imports only the standard library and runtime/client, takes
// its routes from the model's route table, and declares no top-level name
// beyond the spec's, the ones the model reserves and its own (renamed when
// the spec takes one).
func TestClientShape(t *testing.T) {
	reserved := model.ReservedGoNames()
	for _, g := range goldens(t) {
		t.Run(g.name, func(t *testing.T) {
			m := load(t, g.spec)
			src := generate(t, g)
			f := parse(t, src)
			if f.Name.Name != Package {
				t.Errorf("package %s, want %s", f.Name.Name, Package)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path != rtPath && strings.Contains(strings.Split(path, "/")[0], ".") {
					t.Errorf("imports %s: only the standard library and %s are allowed", path, rtPath)
				}
			}
			for _, r := range m.Routes {
				if r.Public || r.OperationID == "openapi" || r.OperationID == "docs" {
					continue
				}
				needed := r.IsExecute() || slices.Contains([]string{"list_pipelines", "get_run", "cancel_run", "run_events"}, r.OperationID)
				lit := fmt.Sprintf("Path: %q", r.Path)
				if needed && !bytes.Contains(src, []byte(lit)) {
					t.Errorf("no route literal with %s (%s)", lit, r.OperationID)
				}
			}
			spec := map[string]bool{}
			for _, n := range gocode.DeclaredNames(m) {
				spec[n] = true
			}
			for _, p := range m.Pipelines {
				spec[p.InputGoName], spec[p.OutputGoName] = true, true
			}
			for _, name := range topLevel(f) {
				own := strings.TrimPrefix(name, "Taskwire")
				switch {
				case !ast.IsExported(name), spec[name], slices.Contains(reserved, name):
				case slices.Contains(ownNames, own) && (own == name || spec[own]):
				default:
					t.Errorf("declares %s, which is neither the spec's, reserved by the model, nor one of its own", name)
				}
			}
		})
	}
}

// topLevel returns the names of a file's top-level declarations.
func topLevel(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				out = append(out, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					out = append(out, s.Name.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

// A spec type with the name of one of the client's own names keeps it; the
// client's gets a Taskwire prefix.
func TestOwnNamesGiveWay(t *testing.T) {
	src := generate(t, golden{spec: "../../testdata/generate/client_names/taskwire.yaml"})
	for _, want := range []string{"type Run struct", "TaskwireRun = twclient.Run", "TaskwireEvent = twclient.Event", "TaskwireRunStatus = twclient.RunStatus", ") (*TaskwireRun, error)"} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("the client has no %q", want)
		}
	}
}

// TestGoldensVet type-checks and vets every golden client package.
func TestGoldensVet(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"vet"}
	for _, g := range goldens(t) {
		dir, err := filepath.Abs(filepath.Join(g.out, Dir))
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "./"+filepath.ToSlash(rel))
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
