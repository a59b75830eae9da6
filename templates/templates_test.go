// SPDX-License-Identifier: Apache-2.0

package templates

import (
	"strings"
	"testing"
)

func TestInitFiles(t *testing.T) {
	files, err := InitFiles(Scaffold{Module: "example.com/hello", Package: "hello", Binary: "hello", EnvVar: "HELLO_API_KEY", GoVersion: "1.26.0", TaskwireVersion: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Content)
	}
	for _, want := range []string{".gitignore", "Makefile", "README.md", "go.mod", "main.go", "hello/gen.go", "hello/server_test.go", "hello/tasks.go", "hello/taskwire.yaml"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no %s among %d files", want, len(files))
		}
	}
	if len(got) != 9 {
		t.Errorf("%d files, want 9", len(got))
	}
	for path, content := range got {
		if strings.Contains(content, "{{") || strings.Contains(content, "<no value>") {
			t.Errorf("%s has an unexpanded template action", path)
		}
	}
	if !strings.Contains(got["go.mod"], "require github.com/taskwire/taskwire v1.2.3\n") || strings.Contains(got["go.mod"], "development build") {
		t.Errorf("go.mod:\n%s", got["go.mod"])
	}
	if !strings.Contains(got["hello/taskwire.yaml"], "env: HELLO_API_KEY") {
		t.Errorf("spec lacks the key variable:\n%s", got["hello/taskwire.yaml"])
	}
}
