// SPDX-License-Identifier: Apache-2.0

// Package archtest holds the test that keeps docs/architecture.md true: every
// package of the module has a row in its import table, and imports only the
// packages of the module that its row names.
package archtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/taskwire/taskwire"

var rowRE = regexp.MustCompile("^\\| `([^`]+)` \\|[^|]*\\| (.*) \\|$")
var nameRE = regexp.MustCompile("`([^`]+)`")

// allowed reads the table "Packages and what they may import".
func allowed(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Packages and what they may import"
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		var may []string
		for _, n := range nameRE.FindAllStringSubmatch(m[2], -1) {
			may = append(may, n[1])
		}
		if _, dup := rules[m[1]]; dup {
			t.Errorf("docs/architecture.md lists %s twice", m[1])
		}
		rules[m[1]] = may
	}
	if len(rules) == 0 {
		t.Fatal("docs/architecture.md has no import table")
	}
	return rules
}

// goList runs go list at the module root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// local returns the module-relative name of path, or "" for a package of
// another module or the standard library.
func local(path string) string {
	if path == module {
		return "."
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return rel
}

func TestImportsFollowTheArchitecturePage(t *testing.T) {
	rules := allowed(t)
	seen := map[string]bool{}
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		fields := strings.Fields(line)
		pkg := local(fields[0])
		seen[pkg] = true
		may, ok := rules[pkg]
		if !ok {
			t.Errorf("%s has no row in docs/architecture.md's import table", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if dep := local(imp); dep != "" && !slices.Contains(may, dep) {
				t.Errorf("%s imports %s, which its row in docs/architecture.md does not allow", pkg, dep)
			}
		}
	}
	for pkg := range rules {
		if !seen[pkg] {
			t.Errorf("docs/architecture.md has a row for %s, which is not a package", pkg)
		}
	}
}

// The two rules the page states over the whole dependency graph.
func TestRuntimeNeverLinksTheGenerator(t *testing.T) {
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./runtime/...", "./examples/secureapi/securedemo", "./examples/secureapi/securedemo/client") {
		fields := strings.Fields(line)
		pkg := local(fields[0])
		for _, d := range fields[1:] {
			dep := local(d)
			if dep == "" {
				continue
			}
			if strings.HasPrefix(dep, "generator") {
				t.Errorf("%s depends on %s: a generated service would link the compiler", pkg, dep)
			}
			if strings.HasPrefix(pkg, "examples/") && dep != "runtime" && !strings.HasPrefix(dep, "runtime/") {
				t.Errorf("the generated package %s depends on %s, outside runtime", pkg, dep)
			}
		}
	}
}
