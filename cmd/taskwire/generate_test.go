package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const generateSpec = `taskwire: 1
package: demo
service: {title: Demo, version: 1.0.0}
tasks:
  greet:
    description: Says hello.
    inputs: {name: string}
    output: greeting
    type: string
  shout:
    inputs: {greeting: string}
    output: shouted
    type: string
pipelines:
  hello:
    description: Greets.
    tasks: [greet]
  loud_hello:
    tasks: [greet, shout]
security: {enabled: false}
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "taskwire.yaml")
	writeFile(t, spec, generateSpec)
	userFile := filepath.Join(dir, "tasks.go")
	const userCode = "package demo\n\n// hand-written\n"
	writeFile(t, userFile, userCode)
	// Not ours by name: generate must leave it alone.
	writeFile(t, filepath.Join(dir, "taskwire_notes.go"), "package demo\n")

	check := func(want int) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, "generate", "--check", spec)
		if code != want {
			t.Fatalf("generate --check = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
		}
		return stdout
	}
	generate := func() {
		t.Helper()
		if code, _, stderr := runCLI(t, "generate", spec); code != 0 {
			t.Fatalf("generate = %d\n%s", code, stderr)
		}
	}

	out := check(1)
	if !strings.Contains(out, "missing: "+filepath.Join(dir, "taskwire_tasks_gen.go")) {
		t.Errorf("check before generating does not name the missing files:\n%s", out)
	}
	generate()
	for _, name := range []string{"taskwire_types_gen.go", "taskwire_tasks_gen.go", "taskwire_server_gen.go", "taskwire_openapi_gen.json", "taskwire_pipeline_hello_gen.go", "taskwire_pipeline_loud_hello_gen.go"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("not generated: %v", err)
		}
	}
	check(0)

	// An unchanged file is not rewritten.
	tasksFile := filepath.Join(dir, "taskwire_tasks_gen.go")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(tasksFile, old, old); err != nil {
		t.Fatal(err)
	}

	// A changed description makes the pipeline's file (and the OpenAPI document) stale.
	writeFile(t, spec, strings.Replace(generateSpec, "description: Greets.", "description: Greets warmly.", 1))
	out = check(1)
	if !strings.Contains(out, "stale: "+filepath.Join(dir, "taskwire_pipeline_hello_gen.go")) {
		t.Errorf("check does not name the stale pipeline file:\n%s", out)
	}
	if strings.Contains(out, "taskwire_tasks_gen.go") {
		t.Errorf("check names a fresh file:\n%s", out)
	}
	generate()
	check(0)
	if fi, err := os.Stat(tasksFile); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("an unchanged file was rewritten (%v)", err)
	}

	// Adding a task to a pipeline makes it stale too.
	withTask := strings.Replace(generateSpec, "tasks: [greet]\n", "tasks: [greet, shout]\n", 1)
	writeFile(t, spec, withTask)
	out = check(1)
	if !strings.Contains(out, "stale: "+filepath.Join(dir, "taskwire_pipeline_hello_gen.go")) {
		t.Errorf("check does not name the stale pipeline file:\n%s", out)
	}
	generate()
	check(0)

	// Removing a pipeline deletes its file.
	removed := strings.Replace(withTask, "  loud_hello:\n    tasks: [greet, shout]\n", "", 1)
	writeFile(t, spec, removed)
	out = check(1)
	if !strings.Contains(out, "extra: "+filepath.Join(dir, "taskwire_pipeline_loud_hello_gen.go")) {
		t.Errorf("check does not name the removed pipeline's file:\n%s", out)
	}
	generate()
	check(0)
	if _, err := os.Stat(filepath.Join(dir, "taskwire_pipeline_loud_hello_gen.go")); !os.IsNotExist(err) {
		t.Errorf("the removed pipeline's file still exists (%v)", err)
	}

	// User files are untouched.
	if b, err := os.ReadFile(userFile); err != nil || string(b) != userCode {
		t.Errorf("tasks.go changed: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "taskwire_notes.go")); err != nil {
		t.Errorf("taskwire_notes.go: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestGenerateOut(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "taskwire.yaml")
	writeFile(t, spec, generateSpec)
	out := filepath.Join(dir, "gen", "demo")
	if code, _, stderr := runCLI(t, "generate", "--out", out, spec); code != 0 {
		t.Fatalf("generate --out = %d\n%s", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "generate", spec, "--check", "--out", out); code != 0 {
		t.Fatalf("generate --check --out = %d\n%s", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "taskwire_types_gen.go")); !os.IsNotExist(err) {
		t.Errorf("generate --out wrote into the spec's directory (%v)", err)
	}
}

func TestGenerateRefusesUserFile(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "taskwire.yaml")
	writeFile(t, spec, generateSpec)
	user := filepath.Join(dir, "taskwire_types_gen.go")
	const userCode = "package demo\n\n// Mine, not generated.\ntype Mine struct{}\n"
	writeFile(t, user, userCode)
	for _, args := range [][]string{{"generate", spec}, {"generate", "--check", spec}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "taskwire_types_gen.go exists and was not generated by taskwire") {
			t.Errorf("%v = %d, want 2 with a clear message; stderr:\n%s", args, code, stderr)
		}
	}
	if b, _ := os.ReadFile(user); string(b) != userCode {
		t.Errorf("the user's file was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "taskwire_tasks_gen.go")); !os.IsNotExist(err) {
		t.Errorf("generate wrote files despite refusing (%v)", err)
	}
}

func TestGenerateUsage(t *testing.T) {
	if code, _, _ := runCLI(t, "generate"); code != exitUsage {
		t.Errorf("generate without a file = %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "generate", "a.yaml", "b.yaml"); code != exitUsage {
		t.Errorf("generate with two files = %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "generate", filepath.Join(t.TempDir(), "missing.yaml")); code != exitUsage {
		t.Errorf("generate of a missing file = %d, want 2", code)
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "taskwire.yaml")
	writeFile(t, spec, "taskwire: 1\npackage: demo\ntasks: {}\nbogus: 1\n")
	if code, _, _ := runCLI(t, "generate", spec); code != exitInvalid {
		t.Errorf("generate of an invalid spec = %d, want 1", code)
	}
}
