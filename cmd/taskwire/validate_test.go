// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden cases")

// TestValidateGolden runs every case under testdata/validate: a taskwire.yaml
// and, in want.txt, exactly the diagnostics `taskwire validate` prints for it.
func TestValidateGolden(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/validate/*")
	if err != nil {
		t.Fatal(err)
	}
	failing := 0
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "taskwire.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			m, ds := model.Load("taskwire.yaml", data)
			var got bytes.Buffer
			if err := diag.WriteText(&got, ds); err != nil {
				t.Fatal(err)
			}
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run `go test ./cmd/taskwire -run TestValidateGolden -update` and review the diff)", err)
			}
			if got.String() != string(want) {
				t.Errorf("diagnostics differ\n--- got\n%s--- want\n%s", got.String(), want)
			}
			hasError := strings.Contains(string(want), ": error: ")
			if hasError != (m == nil) {
				t.Errorf("model returned = %v, but want.txt has errors = %v", m != nil, hasError)
			}
			if hasError {
				failing++
			}
		})
	}
	if !*update && failing < 40 {
		t.Errorf("testdata/validate holds %d failing specs; keep at least 40", failing)
	}
}

// TestValidateSpecs checks that every example spec is valid.
func TestValidateSpecs(t *testing.T) {
	files, _ := filepath.Glob("../../specs/*.yaml")
	if len(files) < 3 {
		t.Fatalf("specs/ holds %d specs, want at least 3", len(files))
	}
	var stdout, stderr bytes.Buffer
	code := run(&env{stdout: &stdout, stderr: &stderr, getenv: os.Getenv}, append([]string{"validate"}, files...))
	if code != exitOK || strings.Contains(stdout.String(), ": error: ") {
		t.Fatalf("validate specs: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(&env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, args)
	return code, out.String(), errOut.String()
}

func writeSpec(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "taskwire.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fiveErrors has five unrelated mistakes on five lines.
const fiveErrors = `taskwire: 1
package: demo
tasks:
  a:
    inputs: {x: strng}
    output: y
    type: string
    timeout: 5 minutes
  b:
    inputs: {y: int}
    output: z
    type: string
pipelines:
  p:
    tasks: [a, b, c]
    rate_limit: 10/minutes
security: {enabled: false}
`

func TestValidateReportsEveryError(t *testing.T) {
	path := writeSpec(t, fiveErrors)
	code, stdout, _ := runCLI(t, "validate", path)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	wantLines := []string{":5:17: error: ", ":8:14: error: ", ":10:14: error: ", ":15:19: error: ", ":16:17: error: "}
	if len(lines) != len(wantLines) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(lines), len(wantLines), stdout)
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(lines[i], path+w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], path+w)
		}
	}
}

func TestValidateFormats(t *testing.T) {
	path := writeSpec(t, fiveErrors)
	code, stdout, _ := runCLI(t, "validate", "--format", "json", path)
	if code != exitInvalid {
		t.Fatalf("json: exit %d", code)
	}
	var ds []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
		t.Fatalf("json output does not parse: %v\n%s", err, stdout)
	}
	if len(ds) != 5 || ds[0].File != path || ds[0].Line != 5 || ds[0].Column != 17 || ds[0].Severity != "error" || !strings.Contains(ds[0].Message, `unknown type "strng" (did you mean "string"?)`) {
		t.Errorf("unexpected json diagnostics: %+v", ds)
	}

	code, stdout, _ = runCLI(t, "validate", "--format=github", path)
	if code != exitInvalid {
		t.Fatalf("github: exit %d", code)
	}
	first := strings.SplitN(stdout, "\n", 2)[0]
	if !strings.HasPrefix(first, "::error file="+path+",line=5,col=17::") {
		t.Errorf("github annotation = %q", first)
	}

	valid := writeSpec(t, "taskwire: 1\npackage: ok\nsecurity: {enabled: false}\n")
	code, stdout, _ = runCLI(t, "validate", "--format", "json", valid)
	if code != exitOK || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("valid spec: exit %d, output %q", code, stdout)
	}
}

func TestValidateStrictAndExitCodes(t *testing.T) {
	warnOnly := writeSpec(t, `taskwire: 1
package: w
tasks:
  a: {inputs: {reslt: string}, output: result, type: string}
  b: {inputs: {result: string}, output: done, type: string}
pipelines:
  p: {tasks: [a, b]}
security: {enabled: false}
`)
	if code, out, _ := runCLI(t, "validate", warnOnly); code != exitOK || !strings.Contains(out, `(did you mean "result"?)`) {
		t.Errorf("warnings only: exit %d, output %q", code, out)
	}
	if code, _, _ := runCLI(t, "validate", "--strict", warnOnly); code != exitInvalid {
		t.Errorf("--strict with warnings: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "validate", warnOnly, "--strict"); code != exitInvalid {
		t.Errorf("flag after file: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "validate"); code != exitUsage {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "validate", "--format", "xml", warnOnly); code != exitUsage {
		t.Errorf("bad format: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "validate", filepath.Join(t.TempDir(), "missing.yaml")); code != exitUsage {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "nonsense"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
