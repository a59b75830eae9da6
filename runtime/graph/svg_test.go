// SPDX-License-Identifier: Apache-2.0

package graph_test

import (
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

var update = flag.Bool("update", false, "rewrite the SVG goldens in testdata/")

// specGraphs returns the graph of every pipeline of the example specs.
func specGraphs(t *testing.T) map[string]*rtgraph.Graph {
	t.Helper()
	files, err := filepath.Glob("../../specs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs: %v", err)
	}
	out := map[string]*rtgraph.Graph{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, ds := model.Load(filepath.Base(f), data)
		if m == nil {
			t.Fatalf("%s: %v", f, ds)
		}
		for _, p := range m.Pipelines {
			out[p.Name] = rtgraph.Of(p.Descriptor())
		}
	}
	return out
}

// TestSVGGolden compares the drawing of every example pipeline with
// testdata/<pipeline>.svg (go test -update rewrites them; look at them
// before committing).
func TestSVGGolden(t *testing.T) {
	for name, g := range specGraphs(t) {
		got := rtgraph.SVG(g)
		path := filepath.Join("testdata", name+".svg")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if got != string(want) {
			t.Errorf("SVG of %s differs from %s (run go test -update and review the diff)", name, path)
		}
	}
}

// element is an XML element of a drawing, with its attributes.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG checks that doc is well-formed XML with an svg root and returns
// its elements in document order.
func parseSVG(t *testing.T, doc string) []element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var out []element
	var open []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if len(out) == 0 && (e.name != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v", tok.Name)
			}
			open = append(open, len(out))
			out = append(out, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(tok)
			}
		}
	}
	return out
}

// TestSVGStructure checks, for every example pipeline, what pages and
// tests rely on: one node per graph node, tasks marked with data-task,
// one edge group per edge, a title and description, and nothing a strict
// Content-Security-Policy would block (no script, style or event handler).
func TestSVGStructure(t *testing.T) {
	for name, g := range specGraphs(t) {
		t.Run(name, func(t *testing.T) {
			els := parseSVG(t, rtgraph.SVG(g))
			tasks, nodes, edges := map[string]int{}, 0, 0
			for _, e := range els {
				if e.name == "script" || e.name == "style" || e.name == "foreignObject" {
					t.Errorf("drawing has a <%s>", e.name)
				}
				for a := range e.attrs {
					if a == "style" || strings.HasPrefix(a, "on") {
						t.Errorf("<%s> has attribute %s", e.name, a)
					}
				}
				if strings.Contains(" "+e.attrs["class"]+" ", " tw-node ") {
					nodes++
					if task, ok := e.attrs["data-task"]; ok {
						tasks[task]++
					}
				}
				if e.attrs["class"] == "tw-edge" {
					edges++
				}
			}
			wantTasks := 0
			for _, n := range g.Nodes {
				if n.Kind == rtgraph.KindTask {
					wantTasks++
					if tasks[n.Name] != 1 {
						t.Errorf("task %s has %d nodes with data-task", n.Name, tasks[n.Name])
					}
				}
			}
			if len(tasks) != wantTasks || nodes != len(g.Nodes) || edges != len(g.Edges) {
				t.Errorf("%d task nodes, %d nodes, %d edges; want %d, %d, %d", len(tasks), nodes, edges, wantTasks, len(g.Nodes), len(g.Edges))
			}
			if els[1].name != "title" || !strings.Contains(els[1].text, name) || els[2].name != "desc" {
				t.Errorf("no title and desc first: %+v %+v", els[1], els[2])
			}
		})
	}
}

// Names cannot break out of the markup.
func TestSVGEscaping(t *testing.T) {
	evil := `x"><script>alert(1)</script>&`
	g := &rtgraph.Graph{Pipeline: evil, Nodes: []rtgraph.Node{
		{ID: rtgraph.InputID(evil), Kind: rtgraph.KindInput, Name: evil, Type: "<T>"},
		{ID: rtgraph.TaskID(evil), Kind: rtgraph.KindTask, Name: evil},
	}, Edges: []rtgraph.Edge{{From: rtgraph.InputID(evil), To: rtgraph.TaskID(evil), Name: evil}}}
	els := parseSVG(t, rtgraph.SVG(g))
	found := false
	for _, e := range els {
		if e.name == "script" {
			t.Fatal("a name became a <script> element")
		}
		if e.attrs["data-task"] == evil {
			found = true
		}
	}
	if !found {
		t.Error("data-task does not hold the task's name verbatim")
	}
}

func TestRenderSVG(t *testing.T) {
	g := specGraphs(t)["secure_demo_pipeline"]
	b, err := rtgraph.Render(g, "svg")
	if err != nil || string(b) != rtgraph.SVG(g) {
		t.Fatalf("Render svg: %v", err)
	}
}
