// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

func sample() *Graph {
	return &Graph{
		Pipeline: "report_daily",
		Nodes: []Node{
			{ID: InputID("document"), Kind: KindInput, Name: "document", Type: "string"},
			{ID: TaskID("split"), Kind: KindTask, Name: "split", Type: "[]Section"},
			{ID: TaskID("summarise"), Kind: KindTask, Name: "summarise", Type: "[]Summary", MapOf: "sections"},
			{ID: OutputID("summaries"), Kind: KindOutput, Name: "summaries", Type: "[]Summary"},
		},
		Edges: []Edge{
			{From: InputID("document"), To: TaskID("split"), Name: "document"},
			{From: TaskID("split"), To: TaskID("summarise"), Name: "sections", Map: true},
			{From: TaskID("summarise"), To: OutputID("summaries"), Name: "summaries"},
		},
	}
}

func TestMermaid(t *testing.T) {
	want := `flowchart LR
  in_document[/"document: string"/]
  task_split["split"]
  task_summarise[["summarise (map over sections)"]]
  out_summaries(["summaries: []Summary"])
  in_document -->|document| task_split
  task_split ==>|sections| task_summarise
  task_summarise -->|summaries| out_summaries
`
	if got := Mermaid(sample()); got != want {
		t.Errorf("Mermaid:\n%s\nwant:\n%s", got, want)
	}
}

func TestDOT(t *testing.T) {
	want := `digraph "report_daily" {
  rankdir=LR;
  node [shape=box];
  "in_document" [label="document: string", shape=parallelogram];
  "task_split" [label="split"];
  "task_summarise" [label="summarise (map over sections)", shape=box3d];
  "out_summaries" [label="summaries: []Summary", shape=ellipse];
  "in_document" -> "task_split" [label="document"];
  "task_split" -> "task_summarise" [label="sections", style=bold];
  "task_summarise" -> "out_summaries" [label="summaries"];
}
`
	if got := DOT(sample()); got != want {
		t.Errorf("DOT:\n%s\nwant:\n%s", got, want)
	}
}

func TestRender(t *testing.T) {
	b, err := Render(sample(), "json")
	if err != nil {
		t.Fatal(err)
	}
	var back Graph
	if err := json.Unmarshal(b, &back); err != nil || len(back.Nodes) != 4 || !back.Edges[1].Map || back.Nodes[2].MapOf != "sections" {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
	if _, err := Render(sample(), "png"); err == nil || !strings.Contains(err.Error(), "json, mermaid, dot or svg") {
		t.Errorf("unknown format: %v", err)
	}
}

// Labels cannot break out of their quotes in either syntax.
func TestEscaping(t *testing.T) {
	g := &Graph{Pipeline: `p"q`, Nodes: []Node{{ID: "task_x", Kind: KindTask, Name: `x" ] --> evil["`}}}
	if m := Mermaid(g); strings.Count(m, `"`) != 2 {
		t.Errorf("mermaid label not escaped: %s", m)
	}
	if d := DOT(g); !strings.Contains(d, `digraph "p\"q"`) || !strings.Contains(d, `label="x\" ] --> evil[\""`) {
		t.Errorf("dot not escaped: %s", d)
	}
}
