// SPDX-License-Identifier: Apache-2.0

package diag

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSortedDeduplicates(t *testing.T) {
	var l List
	l.Warnf(Pos{"b.yaml", 1, 1}, "w")
	l.Errorf(Pos{"a.yaml", 3, 5}, "second")
	l.Errorf(Pos{"a.yaml", 3, 2}, "first")
	l.Errorf(Pos{"a.yaml", 3, 5}, "second")
	got := l.Sorted()
	if len(got) != 3 || got[0].Message != "first" || got[1].Message != "second" || got[2].Pos.File != "b.yaml" {
		t.Fatalf("Sorted = %v", got)
	}
	if e, w := Counts(got); e != 2 || w != 1 || !l.HasErrors() {
		t.Fatalf("counts %d %d", e, w)
	}
}

func TestPrinters(t *testing.T) {
	ds := []Diagnostic{{Pos: Pos{"dir,x/t:1.yaml", 14, 12}, Severity: Warning, Message: "50% off\nnext line"}}
	var text, js, gh bytes.Buffer
	if err := WriteText(&text, ds); err != nil {
		t.Fatal(err)
	}
	if want := "dir,x/t:1.yaml:14:12: warning: 50% off\nnext line\n"; text.String() != want {
		t.Errorf("text = %q", text.String())
	}
	if err := WriteJSON(&js, ds); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(js.Bytes(), &out); err != nil || out[0]["column"] != float64(12) || out[0]["severity"] != "warning" {
		t.Errorf("json = %s (%v)", js.String(), err)
	}
	if err := WriteGitHub(&gh, ds); err != nil {
		t.Fatal(err)
	}
	if want := "::warning file=dir%2Cx/t%3A1.yaml,line=14,col=12::50%25 off%0Anext line\n"; gh.String() != want {
		t.Errorf("github = %q", gh.String())
	}
	js.Reset()
	if err := WriteJSON(&js, nil); err != nil || js.String() != "[]\n" {
		t.Errorf("empty json = %q", js.String())
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		name string
		list []string
		want string
	}{
		{"reslt", []string{"result", "validated"}, "result"},
		{"tsks", []string{"taskwire", "tasks", "types"}, "tasks"},
		{"pipeliens", []string{"pipelines"}, "pipelines"},
		{"xyz", []string{"tasks"}, ""},
		{"tasks", []string{"tasks"}, ""},
	}
	for _, c := range cases {
		if got := Suggest(c.name, c.list); got != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestInfo(t *testing.T) {
	var l List
	l.Infof(Pos{"a.yaml", 2, 1}, "added")
	l.Warnf(Pos{"a.yaml", 2, 1}, "lowered")
	l.Errorf(Pos{"a.yaml", 2, 1}, "removed")
	got := l.Sorted()
	if len(got) != 3 || got[0].Severity != Error || got[1].Severity != Warning || got[2].Severity != Info {
		t.Fatalf("Sorted = %v: at one position errors come first, infos last", got)
	}
	if e, w := Counts(got); e != 1 || w != 1 {
		t.Errorf("Counts = %d errors, %d warnings; an info is neither", e, w)
	}
	var onlyInfo List
	onlyInfo.Infof(Pos{"a.yaml", 1, 1}, "x")
	if onlyInfo.HasErrors() {
		t.Error("an info counts as an error")
	}
	var text, js, gh bytes.Buffer
	ds := got[2:]
	if err := WriteText(&text, ds); err != nil || text.String() != "a.yaml:2:1: info: added\n" {
		t.Errorf("text = %q (%v)", text.String(), err)
	}
	if err := WriteJSON(&js, ds); err != nil || !bytes.Contains(js.Bytes(), []byte(`"severity": "info"`)) {
		t.Errorf("json = %s (%v)", js.String(), err)
	}
	if err := WriteGitHub(&gh, ds); err != nil || gh.String() != "::notice file=a.yaml,line=2,col=1::added\n" {
		t.Errorf("github = %q (%v)", gh.String(), err)
	}
}
