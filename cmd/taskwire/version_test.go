// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestStamp(t *testing.T) {
	checkout := &debug.BuildInfo{
		Main: debug.Module{Path: taskwireModule, Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{Main: debug.Module{Path: taskwireModule, Version: "v1.2.3"}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildStamp
	}{
		{"no information", "", "", "", nil, buildStamp{Version: "(devel)", Commit: "unknown", Date: "unknown"}},
		{"go run in a checkout without VCS stamping", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			buildStamp{Version: "(devel)", Commit: "unknown", Date: "unknown"}},
		{"go install @v1.2.3", "", "", "", installed, buildStamp{Version: "v1.2.3", Commit: "unknown", Date: "unknown"}},
		{"built from a checkout", "", "", "", checkout, buildStamp{
			Version: "v0.0.0-20260102030405-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567",
			Date: "2026-01-02T03:04:05Z", Modified: true}},
		{"release build", "v1.2.3", "fedcba", "2026-02-03T04:05:06Z", checkout,
			buildStamp{Version: "v1.2.3", Commit: "fedcba", Date: "2026-02-03T04:05:06Z"}},
		{"version alone from -ldflags", "v1.2.3", "", "", checkout, buildStamp{
			Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T03:04:05Z", Modified: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stamp(tc.version, tc.commit, tc.date, tc.bi); got != tc.want {
				t.Errorf("stamp = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionUsage(t *testing.T) {
	if code, _, stderr := runCLI(t, "version", "extra"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit %d, stderr %q", code, stderr)
	}
}

// buildTaskwire builds this command into a temporary folder with extra go
// build flags and returns the binary's path.
func buildTaskwire(t *testing.T, flags ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the taskwire binary; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "taskwire")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func versionOutput(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("taskwire version: %v\n%s", err, out)
	}
	return string(out)
}

// TestVersionLdflags builds the binary the way a release does and checks
// that `taskwire version` prints the stamped values.
func TestVersionLdflags(t *testing.T) {
	bin := buildTaskwire(t, "-ldflags", "-X main.version=v9.8.7 -X main.commit=0badc0ffee -X main.date=2026-03-04T05:06:07Z")
	out := versionOutput(t, bin)
	for _, want := range []string{
		"taskwire v9.8.7 (spec format 1)\n",
		"commit: 0badc0ffee\n",
		"date:   2026-03-04T05:06:07Z\n",
		"go:     go",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("taskwire version lacks %q:\n%s", want, out)
		}
	}
}

// TestVersionFromCheckout builds the binary, with VCS stamping, from a git
// repository holding this tree's files at a tag, and checks that `taskwire
// version` reports the tag as the version, the revision and its commit
// time; then again with an uncommitted file, which marks it modified. (Go
// stamps only a repository whose .git is a folder, so the test makes its
// own rather than trusting the checkout it runs in, which may be a worktree.)
func TestVersionFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the taskwire binary; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=taskwire test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not run from a git checkout")
	}
	repo := t.TempDir()
	for _, name := range strings.Split(git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00") {
		if name == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(repo, "init", "-q")
	git(repo, "add", "-A")
	git(repo, "commit", "-q", "-m", "release")
	git(repo, "tag", "v1.9.9")
	head := git(repo, "rev-parse", "HEAD")

	build := func() string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "taskwire")
		cmd := exec.Command(goBin, "build", "-buildvcs=true", "-o", bin, "./cmd/taskwire")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return versionOutput(t, bin)
	}
	out := build()
	for _, want := range []string{
		"taskwire v1.9.9 (spec format 1)\n",
		"commit: " + head + "\n",
		"date:   2026-01-02T03:04:05Z\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("clean build at tag v1.9.9: taskwire version lacks %q:\n%s", want, out)
		}
	}

	if err := os.WriteFile(filepath.Join(repo, "uncommitted.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = build()
	if want := "commit: " + head + " (modified)\n"; !strings.Contains(out, want) {
		t.Errorf("build with an uncommitted file: taskwire version lacks %q:\n%s", want, out)
	}
	if strings.HasPrefix(out, "taskwire v1.9.9 ") {
		t.Errorf("a modified tree must not claim the tag's version:\n%s", out)
	}
}
