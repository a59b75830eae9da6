// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffCases runs `taskwire diff` over every golden case of
// testdata/diff (whose want files generator/diff's tests check): with --all
// it prints want, without it only the errors and warnings, and it exits 1
// exactly when want holds an error.
func TestDiffCases(t *testing.T) {
	dirs, _ := filepath.Glob("../../testdata/diff/*")
	if len(dirs) < 40 {
		t.Fatalf("testdata/diff holds %d cases, want at least 40", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			oldPath, newPath := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
			data, err := os.ReadFile(filepath.Join(dir, "want"))
			if err != nil {
				t.Fatal(err)
			}
			var all, breaking []string
			for _, line := range strings.SplitAfter(string(data), "\n") {
				if line == "" {
					continue
				}
				switch {
				case strings.HasPrefix(line, "old.yaml:"):
					line = oldPath + strings.TrimPrefix(line, "old.yaml")
				case strings.HasPrefix(line, "new.yaml:"):
					line = newPath + strings.TrimPrefix(line, "new.yaml")
				default:
					t.Fatalf("want line names neither old.yaml nor new.yaml: %q", line)
				}
				all = append(all, line)
				if !strings.Contains(line, ": info: ") {
					breaking = append(breaking, line)
				}
			}
			wantCode := exitOK
			if strings.Contains(string(data), ": error: ") {
				wantCode = exitInvalid
			}
			code, stdout, stderr := runCLI(t, "diff", "--all", oldPath, newPath)
			if code != wantCode || stdout != strings.Join(all, "") {
				t.Errorf("diff --all: exit %d (want %d)\n--- got\n%s--- want\n%s%s", code, wantCode, stdout, strings.Join(all, ""), stderr)
			}
			code, stdout, _ = runCLI(t, "diff", oldPath, newPath)
			if code != wantCode || stdout != strings.Join(breaking, "") {
				t.Errorf("diff: exit %d (want %d)\n--- got\n%s--- want\n%s", code, wantCode, stdout, strings.Join(breaking, ""))
			}
		})
	}
}

func TestDiffFormats(t *testing.T) {
	dir := "../../testdata/diff/rewired_input"
	oldPath, newPath := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")

	code, stdout, _ := runCLI(t, "diff", "--format", "json", "--all", oldPath, newPath)
	if code != exitInvalid {
		t.Fatalf("json: exit %d, want 1", code)
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
	if len(ds) != 3 || ds[0].Severity != "info" || ds[1].File != newPath || ds[1].Line != 29 || ds[1].Column != 7 || ds[1].Severity != "error" ||
		!strings.Contains(ds[1].Message, `input "checked" of task "bill_order" lost its producer, task "check_order"`) || ds[2].File != oldPath {
		t.Errorf("json diagnostics: %+v", ds)
	}

	code, stdout, _ = runCLI(t, "diff", "--format=github", oldPath, newPath)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitInvalid || len(lines) != 2 || !strings.HasPrefix(lines[0], "::error file="+newPath+",line=29,col=7::pipeline \"billing\": input") {
		t.Errorf("github: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "diff", "--format=github", "--all", oldPath, newPath)
	if code != exitInvalid || !strings.HasPrefix(stdout, "::notice file="+newPath+",line=21,col=3::output \"verified\" was added") {
		t.Errorf("github --all: exit %d\n%s", code, stdout)
	}

	same := filepath.Join("../../testdata/diff/no_change", "old.yaml")
	code, stdout, _ = runCLI(t, "diff", "--format", "json", same, same)
	if code != exitOK || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("no change: exit %d, output %q", code, stdout)
	}
}

func TestDiffExitCodes(t *testing.T) {
	cases := "../../testdata/diff/"
	base := cases + "no_change/old.yaml"
	if code, out, _ := runCLI(t, "diff", cases+"rate_limit_lowered_pipeline/old.yaml", cases+"rate_limit_lowered_pipeline/new.yaml"); code != exitOK || !strings.Contains(out, ": warning: ") {
		t.Errorf("warnings only: exit %d, want 0\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, "diff", cases+"safe_pipeline_added/old.yaml", cases+"safe_pipeline_added/new.yaml"); code != exitOK || out != "" || !strings.Contains(errOut, "1 compatible change (--all lists it)") {
		t.Errorf("safe change: exit %d, output %q, summary %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "diff", cases+"pipeline_removed/old.yaml", cases+"pipeline_removed/new.yaml"); code != exitInvalid {
		t.Errorf("breaking change: exit %d, want 1", code)
	}
	// Flags after the files, as for every verb.
	if code, _, _ := runCLI(t, "diff", cases+"pipeline_removed/old.yaml", cases+"pipeline_removed/new.yaml", "--all"); code != exitInvalid {
		t.Errorf("flag after files: exit %d, want 1", code)
	}

	for name, args := range map[string][]string{
		"no files":     {"diff"},
		"one file":     {"diff", base},
		"three files":  {"diff", base, base, base},
		"bad format":   {"diff", "--format", "xml", base, base},
		"unknown flag": {"diff", "--strict", base, base},
		"missing file": {"diff", base, filepath.Join(t.TempDir(), "missing.yaml")},
		"empty path":   {"diff", base, "HEAD:"},
	} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}

	// A revision that git would read as an option is refused before git runs.
	if code, _, errOut := runCLI(t, "diff", base, "--", "--output=x:taskwire.yaml"); code != exitUsage || !strings.Contains(errOut, "not REF:PATH") {
		t.Errorf("option as revision: exit %d, stderr %q", code, errOut)
	}

	// An invalid spec: exit 2, and its diagnostics in the chosen format.
	bad := writeSpec(t, "taskwire: 1\npackage: shop\ntasks:\n  t: {inputs: {x: strng}, output: y, type: string}\npipelines:\n  p: {tasks: [t]}\nsecurity: {enabled: false}\n")
	code, out, errOut := runCLI(t, "diff", base, bad)
	if code != exitUsage || !strings.HasPrefix(out, bad+":4:19: error: ") || !strings.Contains(out, `unknown type "strng"`) || !strings.Contains(errOut, bad+" is invalid (1 error)") {
		t.Errorf("invalid spec: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "diff", "--format", "github", bad, base)
	if code != exitUsage || !strings.HasPrefix(out, "::error file=") {
		t.Errorf("invalid spec, github: exit %d\n%s", code, out)
	}
}

// TestDiffGit reads OLD from git: the spec as committed against the spec
// as edited in the work tree, in a repository made for the test.
func TestDiffGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	copyCase := func(name string) {
		t.Helper()
		data, err := os.ReadFile("../../testdata/diff/pipeline_removed/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(repo, "api"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "api", "taskwire.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	copyCase("old.yaml")
	git("add", "api/taskwire.yaml")
	git("commit", "-q", "-m", "first")
	copyCase("new.yaml")

	t.Chdir(repo)
	code, out, errOut := runCLI(t, "diff", "main:api/taskwire.yaml", "api/taskwire.yaml")
	want := `main:api/taskwire.yaml:41:3: error: pipeline "order_check" was removed`
	if code != exitInvalid || !strings.HasPrefix(out, want) {
		t.Errorf("git form: exit %d, want 1 and %q\n%s%s", code, want, out, errOut)
	}
	// Both versions from git, and a path relative to the current folder.
	git("commit", "-q", "-am", "second")
	t.Chdir(filepath.Join(repo, "api"))
	if code, out, errOut := runCLI(t, "diff", "HEAD~1:./taskwire.yaml", "HEAD:./taskwire.yaml"); code != exitInvalid || !strings.HasPrefix(out, "HEAD~1:./taskwire.yaml:41:3: error: ") {
		t.Errorf("two revisions: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "diff", "HEAD:./taskwire.yaml", "taskwire.yaml"); code != exitOK || out != "" {
		t.Errorf("committed against work tree, unchanged: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "diff", "nosuchref:taskwire.yaml", "taskwire.yaml"); code != exitUsage || !strings.Contains(errOut, "git show nosuchref:taskwire.yaml") {
		t.Errorf("unknown revision: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "diff", "HEAD:./missing.yaml", "taskwire.yaml"); code != exitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("path not in the revision: exit %d, stderr %q", code, errOut)
	}
}
