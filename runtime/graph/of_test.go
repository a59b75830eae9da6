// SPDX-License-Identifier: Apache-2.0

package graph_test

import (
	"os"
	"testing"

	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

func TestOfReports(t *testing.T) {
	data, err := os.ReadFile("../../specs/reports.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, ds := model.Load("reports.yaml", data)
	if m == nil {
		t.Fatal(ds)
	}
	g := rtgraph.Of(m.Pipeline("report_daily").Descriptor())
	kinds := map[string]int{}
	for _, n := range g.Nodes {
		kinds[n.Kind]++
	}
	if kinds[rtgraph.KindInput] != 5 || kinds[rtgraph.KindTask] != 3 || kinds[rtgraph.KindOutput] != 1 {
		t.Fatalf("node kinds = %v", kinds)
	}
	var mapEdges []rtgraph.Edge
	for _, e := range g.Edges {
		if e.Map {
			mapEdges = append(mapEdges, e)
		}
	}
	if len(mapEdges) != 1 || mapEdges[0].From != rtgraph.TaskID("split_sections") || mapEdges[0].To != rtgraph.TaskID("summarise_section") {
		t.Fatalf("map edges = %+v", mapEdges)
	}
	last := g.Edges[len(g.Edges)-1]
	if last.From != rtgraph.TaskID("merge_report") || last.To != rtgraph.OutputID("report") {
		t.Fatalf("last edge = %+v", last)
	}
	ids := map[string]bool{}
	for _, n := range g.Nodes {
		if ids[n.ID] {
			t.Fatalf("duplicate node id %s", n.ID)
		}
		ids[n.ID] = true
	}
	for _, e := range g.Edges {
		if !ids[e.From] || !ids[e.To] {
			t.Fatalf("edge %+v names a missing node", e)
		}
	}
}
