// SPDX-License-Identifier: Apache-2.0

package generator

import (
	"os"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator/model"
)

func TestGenerate(t *testing.T) {
	data, err := os.ReadFile("../specs/secure_demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, ds := model.Load("secure_demo.yaml", data)
	if m == nil {
		t.Fatal(ds)
	}
	one := func(names ...string) Backend {
		return func(*model.Model) ([]File, error) {
			var out []File
			for _, n := range names {
				out = append(out, File{Name: n})
			}
			return out, nil
		}
	}
	files, err := Generate(m, one("b", "d"), one("a", "c"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	if strings.Join(got, ",") != "a,b,c,d" {
		t.Errorf("files %v, want them sorted by name", got)
	}
	if _, err := Generate(m, one("a"), one("a")); err == nil || !strings.Contains(err.Error(), "two back ends write a") {
		t.Errorf("two back ends writing one file: %v", err)
	}
	if _, err := Generate(nil, one("a")); err == nil {
		t.Error("no model accepted")
	}
}
