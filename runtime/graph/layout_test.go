// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"reflect"
	"testing"
)

// layoutCases are graphs of the shapes pipelines take: a chain, branches
// that join, a source read only by a late task, a map task, and graphs the
// generator never makes (a cycle, an edge to a missing node, no nodes).
func layoutCases() map[string]*Graph {
	chain := &Graph{Pipeline: "chain", Nodes: []Node{
		{ID: "in_a", Kind: KindInput, Name: "a"},
		{ID: "task_x", Kind: KindTask, Name: "x"},
		{ID: "task_y", Kind: KindTask, Name: "y"},
		{ID: "out_y", Kind: KindOutput, Name: "y"},
	}, Edges: []Edge{{"in_a", "task_x", "a", false}, {"task_x", "task_y", "x", false}, {"task_y", "out_y", "y", false}}}
	join := &Graph{Pipeline: "join", Nodes: []Node{
		{ID: "in_a", Kind: KindInput, Name: "a"},
		{ID: "in_b", Kind: KindInput, Name: "b"},
		{ID: "in_late", Kind: KindInput, Name: "late"},
		{ID: "task_ea", Kind: KindTask, Name: "extract_a"},
		{ID: "task_eb", Kind: KindTask, Name: "extract_b"},
		{ID: "task_ca", Kind: KindTask, Name: "clean_a"},
		{ID: "task_j", Kind: KindTask, Name: "join"},
		{ID: "task_m", Kind: KindTask, Name: "metrics", MapOf: "rows"},
		{ID: "out_j", Kind: KindOutput, Name: "joined"},
		{ID: "out_m", Kind: KindOutput, Name: "metrics"},
	}, Edges: []Edge{
		{"in_a", "task_ea", "a", false}, {"in_b", "task_eb", "b", false}, {"in_late", "task_j", "late", false},
		{"task_ea", "task_ca", "ea", false}, {"task_ca", "task_j", "ca", false}, {"task_eb", "task_j", "eb", false},
		{"task_eb", "task_m", "rows", true}, {"task_j", "out_j", "joined", false}, {"task_m", "out_m", "metrics", false},
		{"in_a", "task_m", "a", false},
	}}
	cycle := &Graph{Pipeline: "cycle", Nodes: []Node{
		{ID: "task_x", Kind: KindTask, Name: "x"}, {ID: "task_y", Kind: KindTask, Name: "y"},
	}, Edges: []Edge{{"task_x", "task_y", "x", false}, {"task_y", "task_x", "y", false}}}
	dangling := &Graph{Pipeline: "dangling", Nodes: []Node{{ID: "task_x", Kind: KindTask, Name: "x"}},
		Edges: []Edge{{"task_x", "task_nowhere", "x", false}, {"in_nothing", "task_x", "n", false}}}
	return map[string]*Graph{"chain": chain, "join": join, "cycle": cycle, "dangling": dangling, "empty": {Pipeline: "empty"}}
}

// TestLayoutGeometry checks what makes a drawing readable: nodes of a layer
// never overlap, every drawn edge points right and passes one bend point
// per layer it crosses, layers do not overlap, and everything lies inside
// the canvas.
func TestLayoutGeometry(t *testing.T) {
	for name, g := range layoutCases() {
		t.Run(name, func(t *testing.T) {
			l := layOut(g)
			for li, ly := range l.layers {
				for i := 1; i < len(ly); i++ {
					a, b := l.boxes[ly[i-1]], l.boxes[ly[i]]
					if a.y+a.h+l.gap(ly[i-1], ly[i]) > b.y {
						t.Errorf("layer %d: box %d (y %d..%d) and box %d (y %d) overlap", li, ly[i-1], a.y, a.y+a.h, ly[i], b.y)
					}
				}
			}
			for i, b := range l.boxes {
				if b.x < margin || b.y < margin || b.x+b.w > l.w-margin || b.y+b.h > l.h-margin {
					t.Errorf("box %d (%d,%d %dx%d) outside the canvas %dx%d", i, b.x, b.y, b.w, b.h, l.w, l.h)
				}
				for _, o := range b.out {
					if next := l.boxes[o]; next.layer != b.layer+1 || next.x <= b.x+b.w {
						t.Errorf("segment %d -> %d does not go one layer right", i, o)
					}
				}
			}
			for _, rt := range l.routes {
				src, dst := l.boxes[rt.boxes[0]], l.boxes[rt.boxes[len(rt.boxes)-1]]
				if len(rt.boxes) != dst.layer-src.layer+1 {
					t.Errorf("edge %v crosses %d layers with %d boxes", g.Edges[rt.edge], dst.layer-src.layer, len(rt.boxes))
				}
			}
		})
	}
}

func TestLayoutLayers(t *testing.T) {
	g := layoutCases()["join"]
	l := layOut(g)
	layerOf := map[string]int{}
	for _, b := range l.boxes {
		if b.node >= 0 {
			layerOf[g.Nodes[b.node].ID] = b.layer
		}
	}
	want := map[string]int{
		"in_a": 0, "in_b": 0, "task_ea": 1, "task_eb": 1, "task_ca": 2, "task_j": 3, "out_j": 4,
		"in_late": 2, // next to its only consumer, not in the first layer
		"task_m":  2, "out_m": 3,
	}
	if !reflect.DeepEqual(layerOf, want) {
		t.Errorf("layers = %v\nwant     %v", layerOf, want)
	}
	if len(l.routes) != len(g.Edges) {
		t.Errorf("%d of %d edges drawn", len(l.routes), len(g.Edges))
	}
}

// A cycle and edges to missing nodes are dropped, not looped on.
func TestLayoutDropsWhatCannotBeDrawn(t *testing.T) {
	if l := layOut(layoutCases()["cycle"]); len(l.routes) != 1 {
		t.Errorf("cycle: %d edges drawn, want 1", len(l.routes))
	}
	if l := layOut(layoutCases()["dangling"]); len(l.routes) != 0 || len(l.boxes) != 1 {
		t.Errorf("dangling: %d edges, %d boxes", len(l.routes), len(l.boxes))
	}
}

// The barycenter sweeps undo crossings that the node order would draw.
func TestLayoutRemovesCrossings(t *testing.T) {
	// a feeds the second task, b the first: in node order the edges cross.
	g := &Graph{Pipeline: "crossed", Nodes: []Node{
		{ID: "in_a", Kind: KindInput, Name: "a"}, {ID: "in_b", Kind: KindInput, Name: "b"},
		{ID: "task_1", Kind: KindTask, Name: "one"}, {ID: "task_2", Kind: KindTask, Name: "two"},
		{ID: "in_c", Kind: KindInput, Name: "c"},
		{ID: "task_3", Kind: KindTask, Name: "three"},
	}, Edges: []Edge{
		{"in_a", "task_2", "a", false}, {"in_b", "task_1", "b", false},
		{"task_1", "task_3", "one", false}, {"task_2", "task_3", "two", false}, {"in_c", "task_3", "c", false},
	}}
	l := layOut(g)
	if c := l.crossings(); c != 0 {
		t.Errorf("%d crossings left; layers %v", c, l.layers)
	}
}

func TestLayoutDeterministic(t *testing.T) {
	for name, g := range layoutCases() {
		first := fmt.Sprintf("%+v", *layOut(g))
		for range 20 {
			if again := fmt.Sprintf("%+v", *layOut(g)); again != first {
				t.Fatalf("%s: two layouts of one graph differ", name)
			}
		}
	}
}

// Gaps between layers grow to fit the labels of the edges drawn in them.
func TestLayoutGapFitsLabels(t *testing.T) {
	g := layoutCases()["chain"]
	g.Edges[1].Name = "a_rather_long_value_name_indeed"
	l := layOut(g)
	if need := len(g.Edges[1].Name)*labelCharW + labelPadX; l.gaps[1] < need {
		t.Errorf("gap %d after layer 1, the label needs %d", l.gaps[1], need)
	}
	if l.gaps[0] != minLayerGap {
		t.Errorf("gap %d after layer 0, want the minimum %d", l.gaps[0], minLayerGap)
	}
}
