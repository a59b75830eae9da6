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
