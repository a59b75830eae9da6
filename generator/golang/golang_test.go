// SPDX-License-Identifier: Apache-2.0

package golang

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/generator/openapi"
)

var update = flag.Bool("update", false, "rewrite the generated files in testdata/generate/*/want")

// casesDir holds the golden cases: <case>/taskwire.yaml and <case>/want/.
const casesDir = "../../testdata/generate"

func cases(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(casesDir, "*", "taskwire.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases in %s: %v", casesDir, err)
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	return dirs
}

func loadCase(t testing.TB, dir string) *model.Model {
	t.Helper()
	file := filepath.Join(dir, "taskwire.yaml")
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

// isOwned reports whether name is a file Gen produces kinds of; other files
// in want/ (hand-written tests) are not compared.
func isOwned(name string) bool {
	return strings.HasPrefix(name, "taskwire_") && (strings.HasSuffix(name, "_gen.go") || strings.HasSuffix(name, "_gen.json"))
}

// generate runs the back ends of taskwire generate on m: this one and the
// OpenAPI document its server embeds.
func generate(m *model.Model) ([]generator.File, error) {
	return generator.Generate(m, Gen, openapi.Gen)
}

// TestGolden regenerates every case and compares the owned files of want/
// byte for byte. -update rewrites them (and deletes owned files no longer
// generated); review the diff.
func TestGolden(t *testing.T) {
	for _, dir := range cases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := generate(loadCase(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, "want")
			if *update {
				writeWant(t, want, files)
			}
			entries, err := os.ReadDir(want)
			if err != nil {
				t.Fatalf("%v (run `go test ./generator/golang -run Golden -update`)", err)
			}
			got := map[string][]byte{}
			for _, f := range files {
				got[f.Name] = f.Content
			}
			for _, e := range entries {
				if !isOwned(e.Name()) {
					continue
				}
				if _, ok := got[e.Name()]; !ok {
					t.Errorf("want/%s is no longer generated", e.Name())
				}
			}
			for _, f := range files {
				w, err := os.ReadFile(filepath.Join(want, f.Name))
				if err != nil {
					t.Errorf("%v (run with -update)", err)
					continue
				}
				if !bytes.Equal(w, f.Content) {
					t.Errorf("%s differs from want/%s:\n%s", f.Name, f.Name, firstDiff(w, f.Content))
				}
			}
		})
	}
}

func writeWant(t *testing.T, want string, files []generator.File) {
	t.Helper()
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.Name] = true
		if err := os.WriteFile(filepath.Join(want, f.Name), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(want)
	for _, e := range entries {
		if isOwned(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(want, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d\n  want: %q\n  got:  %q", i+1, w, g)
		}
	}
	return "(same lines)"
}

// TestGeneratedFiles checks the properties every generated file has: the
// header, gofmt-clean Go, sorted names, and the same bytes on every run.
func TestGeneratedFiles(t *testing.T) {
	for _, dir := range cases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadCase(t, dir)
			files, err := generate(m)
			if err != nil {
				t.Fatal(err)
			}
			again, err := generate(loadCase(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(files) {
				t.Fatalf("second run made %d files, first %d", len(again), len(files))
			}
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.Name
				if again[i].Name != f.Name || !bytes.Equal(again[i].Content, f.Content) {
					t.Errorf("%s is not deterministic", f.Name)
				}
				if !isOwned(f.Name) {
					t.Errorf("%s is not a name the CLI owns", f.Name)
				}
				if !strings.HasSuffix(f.Name, ".go") {
					continue
				}
				if want := Header + "\n// Source: taskwire.yaml\n"; !bytes.HasPrefix(f.Content, []byte(want)) {
					t.Errorf("%s does not start with %q", f.Name, want)
				}
				formatted, err := format.Source(f.Content)
				if err != nil {
					t.Errorf("%s: %v", f.Name, err)
				} else if !bytes.Equal(formatted, f.Content) {
					t.Errorf("%s is not gofmt-clean:\n%s", f.Name, firstDiff(formatted, f.Content))
				}
			}
			if !slices.IsSorted(names) {
				t.Errorf("files are not sorted by name: %v", names)
			}
			wantNames := []string{"taskwire_openapi_gen.json", "taskwire_server_gen.go", "taskwire_tasks_gen.go", "taskwire_types_gen.go"}
			if len(m.Pipelines) > 0 {
				wantNames = append(wantNames, PipelinesFile)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("files = %v, want %v", names, wantNames)
			}
		})
	}
}

// goTool returns the path of the go command, or skips the test.
func goTool(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	return gobin
}

// runGo runs the go command in the module root.
func runGo(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestGoldensVet builds every golden package with go vet (which type-checks
// the package and its tests).
func TestGoldensVet(t *testing.T) {
	args := []string{"vet"}
	for _, dir := range cases(t) {
		args = append(args, "./testdata/generate/"+filepath.Base(dir)+"/want")
	}
	runGo(t, args...)
}

// TestSecureDemoEndToEnd runs the hand-written e2e test of the secure-demo
// golden, which serves the generated package over real HTTP.
func TestSecureDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a subprocess")
	}
	runGo(t, "test", "-count=1", "./testdata/generate/secure_demo/want")
}
