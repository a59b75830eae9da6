// SPDX-License-Identifier: Apache-2.0

package repocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository root, relative to this package.
const root = "../.."

// workflow is the part of a GitHub Actions workflow file the tests read.
type workflow struct {
	Name string               `yaml:"name"`
	On   map[string]yaml.Node `yaml:"on"`
	Jobs map[string]job       `yaml:"jobs"`
}

type job struct {
	RunsOn string `yaml:"runs-on"`
	Steps  []step `yaml:"steps"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
}

func loadWorkflow(t *testing.T) workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("ci.yml is not a valid workflow: %v", err)
	}
	return wf
}

// commands returns the shell commands of a step's run script, one a line.
func (s step) commands() []string {
	var cmds []string
	for line := range strings.SplitSeq(s.Run, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// allCommands returns every run command of the workflow.
func (wf workflow) allCommands() []string {
	var cmds []string
	for _, j := range wf.Jobs {
		for _, s := range j.Steps {
			cmds = append(cmds, s.commands()...)
		}
	}
	return cmds
}

func TestWorkflowShape(t *testing.T) {
	wf := loadWorkflow(t)
	if wf.Name == "" {
		t.Error("the workflow has no name (the badge shows it)")
	}
	for _, event := range []string{"push", "pull_request"} {
		if _, ok := wf.On[event]; !ok {
			t.Errorf("the workflow does not run on %s", event)
		}
	}
	if len(wf.Jobs) == 0 {
		t.Fatal("the workflow has no jobs")
	}
	for name, j := range wf.Jobs {
		if j.RunsOn == "" {
			t.Errorf("job %s: no runs-on", name)
		}
		if len(j.Steps) == 0 {
			t.Errorf("job %s: no steps", name)
			continue
		}
		if !strings.HasPrefix(j.Steps[0].Uses, "actions/checkout@") {
			t.Errorf("job %s: the first step is not actions/checkout", name)
		}
		goSetup := slices.IndexFunc(j.Steps, func(s step) bool { return strings.HasPrefix(s.Uses, "actions/setup-go@") })
		if goSetup < 0 {
			t.Errorf("job %s: no actions/setup-go step", name)
		} else if s := j.Steps[goSetup]; s.With["go-version-file"] != "go.mod" || s.With["cache"] == "false" {
			t.Errorf("job %s: setup-go must read the Go version from go.mod and keep the module cache, has %v", name, s.With)
		}
		for i, s := range j.Steps {
			if (s.Uses == "") == (s.Run == "") {
				t.Errorf("job %s step %d (%q): needs exactly one of uses and run", name, i, s.Name)
			}
			if s.Uses != "" && !regexp.MustCompile(`^[\w.-]+/[\w.-]+@\S+$`).MatchString(s.Uses) {
				t.Errorf("job %s step %d: uses %q is not owner/repo@ref", name, i, s.Uses)
			}
		}
	}
}

// TestWorkflowRunsWhatCIRuns checks that the workflow runs every make
// target that .ci/run runs, make test first among them.
func TestWorkflowRunsWhatCIRuns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	makeLine := regexp.MustCompile(`(?m)^\s*make\s+([\w-]+)\s*$`)
	var targets []string
	for _, m := range makeLine.FindAllStringSubmatch(string(data), -1) {
		targets = append(targets, m[1])
	}
	if !slices.Contains(targets, "test") {
		t.Fatalf(".ci/run does not run make test:\n%s", data)
	}
	cmds := loadWorkflow(t).allCommands()
	for _, target := range targets {
		if !slices.Contains(cmds, "make "+target) {
			t.Errorf(".ci/run runs make %s but the workflow does not (its commands: %q)", target, cmds)
		}
	}
}

func TestWorkflowRunsGovulncheck(t *testing.T) {
	for _, c := range loadWorkflow(t).allCommands() {
		if regexp.MustCompile(`^go run golang\.org/x/vuln/cmd/govulncheck@v\d+\.\d+\.\d+ \./\.\.\.$`).MatchString(c) {
			return
		}
	}
	t.Error("no step runs a pinned govulncheck over ./...")
}

// TestWorkflowInstallsBrowser checks that a workflow installs Chromium once
// a test drives a browser, since GitHub's runners do not come with the
// Debian package the tests look for.
func TestWorkflowInstallsBrowser(t *testing.T) {
	out, err := exec.Command("git", "-C", root, "ls-files", "*_test.go").Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	var browserTests []string
	for name := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(name, "internal/repocheck/") {
			continue // this test names the words it looks for
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // deleted in the working tree
		}
		if regexp.MustCompile(`(?i)chromium|chromedp|headless_shell`).Match(data) {
			browserTests = append(browserTests, name)
		}
	}
	if len(browserTests) == 0 {
		return
	}
	for _, c := range loadWorkflow(t).allCommands() {
		if strings.Contains(c, "apt-get install") && strings.Contains(c, "chromium") {
			return
		}
	}
	t.Errorf("%v drive a browser, but no workflow step runs sudo apt-get install -y chromium", browserTests)
}
