// SPDX-License-Identifier: Apache-2.0

package repocheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mdLink matches the target of an inline Markdown link: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// links returns the relative link targets of a Markdown file, without
// anchors, as paths from the repository root.
func links(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		out = append(out, filepath.ToSlash(filepath.Join(filepath.Dir(file), target)))
	}
	return out
}

// TestReadmeLinksProjectDocs checks that the README leads to the licence,
// the changelog, the contributing guide and the compatibility policy.
func TestReadmeLinksProjectDocs(t *testing.T) {
	got := links(t, "README.md")
	for _, want := range []string{"LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "docs/compatibility.md"} {
		if !slices.Contains(got, want) {
			t.Errorf("README.md does not link %s", want)
		}
	}
}

// TestDocLinksResolve checks that every relative link of the project's
// Markdown files names a file or folder of the repository.
func TestDocLinksResolve(t *testing.T) {
	files := []string{"README.md", "CONTRIBUTING.md", "CHANGELOG.md", ".github/pull_request_template.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	for _, file := range files {
		for _, target := range links(t, file) {
			if _, err := os.Stat(filepath.Join(root, target)); err != nil {
				t.Errorf("%s links %s, which does not exist", file, target)
			}
		}
	}
}
