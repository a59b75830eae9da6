// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"slices"
	"unicode/utf8"
)

// The geometry of the SVG drawing, in pixels. Text is drawn in a monospace
// font, so that the width of a label follows from its length.
const (
	margin       = 16
	nameCharW    = 8 // 13px monospace, with room to spare
	detailCharW  = 7 // 11px monospace
	nodePadX     = 14
	nodeH        = 44
	minNodeW     = 96
	nodeGapY     = 20 // between nodes of a layer
	dummyGapY    = 8  // next to a bend point of a long edge
	minLayerGap  = 56
	labelCharW   = 7 // 11px edge labels
	labelPadX    = 32
	orderSweeps  = 8 // barycenter sweeps when ordering layers
	alignPasses  = 4 // passes that pull nodes towards their neighbours
	mapTaskInset = 4 // the offset of a map task's second outline
)

// box is a node of the layered drawing: a graph node, or a bend point of
// an edge that spans several layers (dummy).
type box struct {
	node  int // index in Graph.Nodes, or -1 for a bend point
	layer int
	w, h  int
	x, y  int // top left
	pos   int // position within the layer
	in    []int
	out   []int // boxes of the next layer this box connects to
}

func (b *box) cy() int { return b.y + b.h/2 }

// route is an edge of the graph through the boxes it passes.
type route struct {
	edge  int   // index in Graph.Edges
	boxes []int // source, bend points, target
}

// layout is a layered drawing of a graph: nodes in columns (layers) from
// left to right, every edge pointing right.
type layout struct {
	boxes  []box
	layers [][]int // box indexes, top to bottom
	routes []route
	gaps   []int // horizontal gap after each layer
	kinds  []string
	w, h   int
}

// lines returns the two text lines of node n: its name and a detail.
func lines(n Node) (name, detail string) {
	switch n.Kind {
	case KindInput:
		detail = "input"
	case KindOutput:
		detail = "output"
	default:
		detail = "task"
		if n.MapOf != "" {
			detail = "map over " + n.MapOf
		}
	}
	if n.Type != "" {
		if n.Kind == KindTask {
			detail += " → " + n.Type
		} else {
			detail += ": " + n.Type
		}
	}
	return n.Name, detail
}

func edgeLabel(e Edge) string {
	if e.Map {
		return "each " + e.Name
	}
	return e.Name
}

// layOut places g's nodes in layers (longest path from the sources, each
// source moved next to its first consumer), orders every layer to reduce
// edge crossings (barycenter sweeps, keeping the best ordering), then gives
// every box coordinates. The result depends only on g: same graph, same
// drawing. Edges that name a missing node, and edges that would close a
// cycle, are not drawn.
func layOut(g *Graph) *layout {
	l := &layout{}
	index := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		if _, dup := index[n.ID]; !dup {
			index[n.ID] = i
		}
	}
	type arc struct{ edge, from, to int }
	var arcs []arc
	succ := make([][]int, len(g.Nodes))
	pred := make([][]int, len(g.Nodes))
	for i, e := range g.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 || from == to {
			continue
		}
		arcs = append(arcs, arc{i, from, to})
	}

	// A topological order (Kahn, ties broken by node order); arcs that
	// would close a cycle are dropped.
	indeg := make([]int, len(g.Nodes))
	for _, a := range arcs {
		indeg[a.to]++
	}
	order := make([]int, 0, len(g.Nodes))
	done := make([]bool, len(g.Nodes))
	for len(order) < len(g.Nodes) {
		next := -1
		for i := range g.Nodes {
			if !done[i] && indeg[i] == 0 {
				next = i
				break
			}
		}
		if next == -1 { // a cycle: break it at the first node left
			for i := range g.Nodes {
				if !done[i] {
					next = i
					break
				}
			}
		}
		done[next] = true
		order = append(order, next)
		for _, a := range arcs {
			if a.from == next && !done[a.to] {
				indeg[a.to]--
			}
		}
	}
	rank := make([]int, len(g.Nodes))
	for r, n := range order {
		rank[n] = r
	}
	kept := arcs[:0]
	for _, a := range arcs {
		if rank[a.from] < rank[a.to] {
			kept = append(kept, a)
			succ[a.from] = append(succ[a.from], a.to)
			pred[a.to] = append(pred[a.to], a.from)
		}
	}
	arcs = kept

	// Layers: the longest path from a source; then every source moves to
	// just before its nearest consumer, which shortens the edges of
	// pipeline inputs read only by later tasks.
	layer := make([]int, len(g.Nodes))
	for _, n := range order {
		for _, p := range pred[n] {
			layer[n] = max(layer[n], layer[p]+1)
		}
	}
	for _, n := range order {
		if len(pred[n]) == 0 && len(succ[n]) > 0 {
			nearest := layer[succ[n][0]]
			for _, s := range succ[n] {
				nearest = min(nearest, layer[s])
			}
			layer[n] = nearest - 1
		}
	}
	depth := 0
	for _, v := range layer {
		depth = max(depth, v+1)
	}
	l.layers = make([][]int, depth)

	for i, n := range g.Nodes {
		l.kinds = append(l.kinds, n.Kind)
		name, detail := lines(n)
		w := max(minNodeW, 2*nodePadX+max(utf8.RuneCountInString(name)*nameCharW, utf8.RuneCountInString(detail)*detailCharW))
		if n.Kind == KindInput {
			w += nodeH / 2 // the slanted sides of the parallelogram
		}
		if n.Kind == KindTask && n.MapOf != "" {
			w += mapTaskInset
		}
		l.boxes = append(l.boxes, box{node: i, layer: layer[i], w: w, h: nodeH})
	}
	for _, n := range order {
		l.layers[layer[n]] = append(l.layers[layer[n]], n)
	}
	// Layers start in node order, which is the order generated graphs list
	// inputs, tasks and outputs in.
	for _, ly := range l.layers {
		slices.Sort(ly)
	}
	for _, a := range arcs {
		rt := route{edge: a.edge, boxes: []int{a.from}}
		prev := a.from
		for ly := layer[a.from] + 1; ly < layer[a.to]; ly++ {
			d := len(l.boxes)
			l.boxes = append(l.boxes, box{node: -1, layer: ly})
			l.layers[ly] = append(l.layers[ly], d)
			l.link(prev, d)
			rt.boxes = append(rt.boxes, d)
			prev = d
		}
		l.link(prev, a.to)
		rt.boxes = append(rt.boxes, a.to)
		l.routes = append(l.routes, rt)
	}
	l.order()
	l.place(g)
	return l
}

func (l *layout) link(from, to int) {
	l.boxes[from].out = append(l.boxes[from].out, to)
	l.boxes[to].in = append(l.boxes[to].in, from)
}

// order sorts each layer by the mean position of its neighbours in the
// layer before (downward sweeps) or after (upward sweeps), and keeps the
// ordering with the fewest crossings.
func (l *layout) order() {
	l.number()
	best, bestCross := l.snapshot(), l.crossings()
	for sweep := 0; sweep < orderSweeps && bestCross > 0; sweep++ {
		down := sweep%2 == 0
		for k := 1; k < len(l.layers); k++ {
			ly := k
			if !down {
				ly = len(l.layers) - 1 - k
			}
			key := make(map[int]int, len(l.layers[ly])) // box -> barycenter * 1000
			for _, b := range l.layers[ly] {
				nb := l.boxes[b].in
				if !down {
					nb = l.boxes[b].out
				}
				if len(nb) == 0 {
					key[b] = l.boxes[b].pos * 1000
					continue
				}
				sum := 0
				for _, o := range nb {
					sum += l.boxes[o].pos * 1000
				}
				key[b] = sum / len(nb)
			}
			slices.SortStableFunc(l.layers[ly], func(a, b int) int { return key[a] - key[b] })
			l.number()
		}
		if c := l.crossings(); c < bestCross {
			best, bestCross = l.snapshot(), c
		}
	}
	l.layers = best
	l.number()
}

func (l *layout) number() {
	for _, ly := range l.layers {
		for i, b := range ly {
			l.boxes[b].pos = i
		}
	}
}

func (l *layout) snapshot() [][]int {
	out := make([][]int, len(l.layers))
	for i, ly := range l.layers {
		out[i] = slices.Clone(ly)
	}
	return out
}

// crossings counts the pairs of segments between adjacent layers that cross.
func (l *layout) crossings() int {
	n := 0
	for _, ly := range l.layers {
		type seg struct{ a, b int }
		var segs []seg
		for _, from := range ly {
			for _, to := range l.boxes[from].out {
				segs = append(segs, seg{l.boxes[from].pos, l.boxes[to].pos})
			}
		}
		for i := range segs {
			for j := i + 1; j < len(segs); j++ {
				if (segs[i].a-segs[j].a)*(segs[i].b-segs[j].b) < 0 {
					n++
				}
			}
		}
	}
	return n
}

// place gives every box its coordinates: layers side by side, each as wide
// as its widest node, separated by gaps wide enough for the edge labels
// drawn in them; within a layer, boxes keep their order and are pulled
// towards the mean height of their neighbours.
func (l *layout) place(g *Graph) {
	widths := make([]int, len(l.layers))
	for _, b := range l.boxes {
		widths[b.layer] = max(widths[b.layer], b.w)
	}
	l.gaps = make([]int, len(l.layers))
	for i := range l.gaps {
		l.gaps[i] = minLayerGap
	}
	for _, rt := range l.routes {
		first := l.boxes[rt.boxes[0]].layer
		label := utf8.RuneCountInString(edgeLabel(g.Edges[rt.edge]))
		l.gaps[first] = max(l.gaps[first], label*labelCharW+labelPadX)
	}
	x := margin
	for i, ly := range l.layers {
		for _, b := range ly {
			bx := &l.boxes[b]
			bx.x = x + (widths[i]-bx.w)/2
		}
		x += widths[i]
		if i < len(l.layers)-1 {
			x += l.gaps[i]
		}
	}
	l.w = x + margin

	// Stack every layer, centred on the tallest.
	height := func(ly []int) int {
		h := 0
		for i, b := range ly {
			if i > 0 {
				h += l.gap(ly[i-1], b)
			}
			h += l.boxes[b].h
		}
		return h
	}
	tallest := 0
	for _, ly := range l.layers {
		tallest = max(tallest, height(ly))
	}
	for _, ly := range l.layers {
		y := margin + (tallest-height(ly))/2
		for i, b := range ly {
			if i > 0 {
				y += l.gap(ly[i-1], b)
			}
			l.boxes[b].y = y
			y += l.boxes[b].h
		}
	}
	for pass := range alignPasses {
		down := pass%2 == 0
		for k := range l.layers {
			ly := k
			if !down {
				ly = len(l.layers) - 1 - k
			}
			l.align(l.layers[ly], down)
		}
	}
	top, bottom := 0, 0
	for i, b := range l.boxes {
		if i == 0 || b.y < top {
			top = b.y
		}
		bottom = max(bottom, b.y+b.h)
	}
	for i := range l.boxes {
		l.boxes[i].y += margin - top
	}
	l.h = bottom - top + 2*margin
	if len(l.boxes) == 0 {
		l.w, l.h = 2*margin, 2*margin
	}
}

// gap is the vertical space between two boxes of a layer.
func (l *layout) gap(a, b int) int {
	if l.boxes[a].node < 0 || l.boxes[b].node < 0 {
		return dummyGapY
	}
	return nodeGapY
}

// align moves the boxes of one layer towards the mean centre of their
// neighbours in the previous layer (down) or the next one (up), keeping
// their order and spacing: each box goes to its wish or just below the box
// above it, then the layer moves up as a block so that its boxes are, on
// the whole, where they wish to be.
func (l *layout) align(ly []int, down bool) {
	if len(ly) == 0 {
		return
	}
	wish := make([]int, len(ly))
	for i, b := range ly {
		bx := &l.boxes[b]
		nb := bx.in
		if !down {
			nb = bx.out
		}
		if len(nb) == 0 {
			wish[i] = bx.y
			continue
		}
		sum := 0
		for _, o := range nb {
			sum += l.boxes[o].cy()
		}
		wish[i] = sum/len(nb) - bx.h/2
	}
	ys := make([]int, len(ly))
	for i := range ly {
		ys[i] = wish[i]
		if i > 0 {
			ys[i] = max(ys[i], ys[i-1]+l.boxes[ly[i-1]].h+l.gap(ly[i-1], ly[i]))
		}
	}
	// Pushed boxes sit below their wish: share the excess by moving the
	// whole layer up by the mean of it.
	excess := 0
	for i := range ly {
		excess += ys[i] - wish[i]
	}
	shift := excess / len(ly)
	for i, b := range ly {
		l.boxes[b].y = ys[i] - shift
	}
}
