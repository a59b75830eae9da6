// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"strings"
)

// Colours of the drawing. They are presentation attributes, which any
// stylesheet overrides: a page that inlines the drawing restyles it by class
// (tw-node, tw-input, tw-task, tw-output, tw-edge, tw-detail) without
// needing inline styles.
const (
	inkColour    = "#1f2933"
	detailColour = "#52606d"
	edgeColour   = "#7b8794"
	inputFill    = "#e8f1fb"
	taskFill     = "#ffffff"
	outputFill   = "#eaf7ee"
	strokeColour = "#52606d"
	fontFamily   = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
)

// xmlText escapes text for XML character data and attribute values.
var xmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// idSafe keeps the characters of s that may appear in an XML id.
func idSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// SVG renders g as a standalone SVG image, laid out in layers from left to
// right (inputs, then tasks in dataflow order, then outputs). Every node is
// a <g> with class tw-node and the class of its kind (tw-input, tw-task,
// tw-output), data-node set to its id and data-input, data-task or
// data-output set to its name; its second text line has class tw-detail.
// Every edge is a <g class="tw-edge"> with data-from and data-to; map edges
// are drawn bold and labelled "each <value>". The drawing uses no script
// and no style element or attribute, so that a page with a strict
// Content-Security-Policy can inline it. The output is deterministic.
func SVG(g *Graph) string {
	l := layOut(g)
	prefix := "tw-" + idSafe(g.Pipeline)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="tw-graph" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc" font-family="%s" font-size="13">`+"\n",
		l.w, l.h, l.w, l.h, prefix, prefix, fontFamily)
	fmt.Fprintf(&b, "<title id=\"%s-title\">%s</title>\n", prefix, xmlText.Replace("Pipeline "+g.Pipeline))
	fmt.Fprintf(&b, "<desc id=\"%s-desc\">%s</desc>\n", prefix, xmlText.Replace(summary(g)))
	fmt.Fprintf(&b, `<defs><marker id="%s-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>`+"\n", prefix, edgeColour)

	b.WriteString("<g class=\"tw-edges\">\n")
	for _, rt := range l.routes {
		e := g.Edges[rt.edge]
		width := "1.5"
		if e.Map {
			width = "3"
		}
		fmt.Fprintf(&b, `<g class="tw-edge" data-from="%s" data-to="%s"><path d="%s" fill="none" stroke="%s" stroke-width="%s" marker-end="url(#%s-arrow)"/>`,
			xmlText.Replace(e.From), xmlText.Replace(e.To), l.path(rt), edgeColour, width, prefix)
		lx, ly := l.labelAt(rt)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11" fill="%s" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text></g>`+"\n",
			lx, ly, detailColour, xmlText.Replace(edgeLabel(e)))
	}
	b.WriteString("</g>\n<g class=\"tw-nodes\">\n")
	for _, bx := range l.boxes {
		if bx.node < 0 {
			continue
		}
		n := g.Nodes[bx.node]
		name, detail := lines(n)
		kindAttr := map[string]string{KindInput: "data-input", KindTask: "data-task", KindOutput: "data-output"}[n.Kind]
		class := "tw-" + idSafe(n.Kind)
		if n.MapOf != "" {
			class += " tw-map"
		}
		fmt.Fprintf(&b, `<g class="tw-node %s" data-node="%s"`, class, xmlText.Replace(n.ID))
		if kindAttr != "" {
			fmt.Fprintf(&b, ` %s="%s"`, kindAttr, xmlText.Replace(n.Name))
		}
		fmt.Fprintf(&b, ` transform="translate(%d %d)"><title>%s</title>`, bx.x, bx.y, xmlText.Replace(name+" ("+detail+")"))
		b.WriteString(shape(n, bx.w, bx.h))
		fmt.Fprintf(&b, `<text x="%d" y="19" text-anchor="middle" font-weight="600" fill="%s">%s</text>`, bx.w/2, inkColour, xmlText.Replace(name))
		fmt.Fprintf(&b, `<text class="tw-detail" x="%d" y="35" text-anchor="middle" font-size="11" fill="%s">%s</text></g>`+"\n", bx.w/2, detailColour, xmlText.Replace(detail))
	}
	b.WriteString("</g>\n</svg>\n")
	return b.String()
}

// shape is the outline of a node of w by h: a parallelogram for an input,
// a rounded box for a task (a stacked pair for a map task), a stadium for
// an output.
func shape(n Node, w, h int) string {
	switch n.Kind {
	case KindInput:
		s := h / 4
		return fmt.Sprintf(`<path class="tw-shape" d="M%d,0 H%d L%d,%d H0 Z" fill="%s" stroke="%s" stroke-width="1.5"/>`, s, w, w-s, h, inputFill, strokeColour)
	case KindOutput:
		return fmt.Sprintf(`<rect class="tw-shape" width="%d" height="%d" rx="%d" fill="%s" stroke="%s" stroke-width="1.5"/>`, w, h, h/2, outputFill, strokeColour)
	}
	if n.MapOf != "" {
		i := mapTaskInset
		return fmt.Sprintf(`<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="%s" stroke-width="1.5"/><rect class="tw-shape" width="%d" height="%d" rx="6" fill="%s" stroke="%s" stroke-width="1.5"/>`,
			i, -i, w-i, h, taskFill, strokeColour, w-i, h, taskFill, strokeColour)
	}
	return fmt.Sprintf(`<rect class="tw-shape" width="%d" height="%d" rx="6" fill="%s" stroke="%s" stroke-width="1.5"/>`, w, h, taskFill, strokeColour)
}

// path is the SVG path of an edge: from the right side of its source,
// through its bend points, to the left side of its target, one horizontal
// S-curve per layer it crosses.
func (l *layout) path(rt route) string {
	var b strings.Builder
	src := &l.boxes[rt.boxes[0]]
	x, y := src.x+src.w, src.cy()
	if src.node >= 0 && l.kinds[src.node] == KindInput {
		x -= src.h / 8 // the slanted right side, at mid height
	}
	fmt.Fprintf(&b, "M%d,%d", x, y)
	for _, id := range rt.boxes[1:] {
		to := &l.boxes[id]
		tx, ty := to.x, to.cy()
		mid := (x + tx) / 2
		fmt.Fprintf(&b, " C%d,%d %d,%d %d,%d", mid, y, mid, ty, tx, ty)
		x, y = to.x+to.w, ty // a bend point has no width
	}
	return b.String()
}

// labelAt is where an edge's label goes: in the middle of its first
// segment, just above the curve.
func (l *layout) labelAt(rt route) (int, int) {
	a, b := &l.boxes[rt.boxes[0]], &l.boxes[rt.boxes[1]]
	x := (a.x + a.w + b.x) / 2
	y := (a.cy()+b.cy())/2 - 5
	return x, y
}

// summary describes g in words, for readers that cannot see the drawing.
func summary(g *Graph) string {
	var in, tasks, out []string
	for _, n := range g.Nodes {
		switch n.Kind {
		case KindInput:
			in = append(in, n.Name)
		case KindTask:
			tasks = append(tasks, n.Name)
		case KindOutput:
			out = append(out, n.Name)
		}
	}
	list := func(what string, names []string) string {
		if len(names) == 0 {
			return "no " + what
		}
		return what + " " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("Dataflow of pipeline %s: %s; %s; %s.", g.Pipeline, list("inputs", in), list("tasks", tasks), list("outputs", out))
}
