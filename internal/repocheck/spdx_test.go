// SPDX-License-Identifier: Apache-2.0

package repocheck

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSPDXHeaders checks every Go file git tracks: a hand-written one starts
// with the licence header and a blank line (so that the header stays out of
// the package doc comment); a generated one is not checked. scripts/spdx.sh
// fixes what this test finds.
func TestSPDXHeaders(t *testing.T) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "*.go").Output()
	if err != nil {
		t.Skipf("not a git checkout (git ls-files: %v)", err)
	}
	handWritten := 0
	for name := range strings.SplitSeq(string(out), "\x00") {
		if name == "" {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ast.IsGenerated(f) {
			continue
		}
		handWritten++
		first, rest, _ := strings.Cut(string(src), "\n")
		switch {
		case first != spdxHeader:
			t.Errorf("%s: the first line is not %q; run scripts/spdx.sh", name, spdxHeader)
		case !strings.HasPrefix(rest, "\n"):
			t.Errorf("%s: no blank line after the licence header, so it joins the comment below; run scripts/spdx.sh", name)
		case f.Doc != nil && strings.Contains(f.Doc.Text(), "SPDX-License-Identifier"):
			t.Errorf("%s: the licence header is part of the package doc comment", name)
		}
	}
	if handWritten == 0 {
		t.Fatal("git ls-files lists no hand-written Go file")
	}
}

// TestScaffoldHasNoLicenceHeader checks that `taskwire init` writes no
// licence header of ours: the scaffold is the user's code.
func TestScaffoldHasNoLicenceHeader(t *testing.T) {
	dir := filepath.Join(root, "templates", "init")
	found := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		found++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "SPDX-License-Identifier") {
			t.Errorf("%s carries a licence header; a scaffold is the user's code", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatalf("no templates under %s", dir)
	}
}
