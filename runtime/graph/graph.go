// SPDX-License-Identifier: Apache-2.0

// Package graph describes a pipeline's task graph and renders it as JSON,
// Mermaid, Graphviz DOT or an SVG image (laid out here, in layers). The CLI
// renders graphs from the spec's model and the generated server renders the
// same graphs at /pipelines/{id}/graph.
package graph

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Node kinds.
const (
	KindInput  = "input"  // a pipeline input (a field of the execute request)
	KindTask   = "task"   // a task
	KindOutput = "output" // a value a finished run returns
)

// Graph is one pipeline's dataflow graph.
type Graph struct {
	Pipeline string `json:"pipeline"`
	Nodes    []Node `json:"nodes"`
	Edges    []Edge `json:"edges"`
}

// Node is a pipeline input, a task or a pipeline output. IDs are unique
// within a graph and safe to use as Mermaid and DOT identifiers.
type Node struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"` // the value's type (inputs, outputs, and tasks' outputs)
	MapOf string `json:"map_over,omitempty"`
}

// Edge carries the value Name from one node to another.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Name string `json:"name"`
	Map  bool   `json:"map,omitempty"` // the target runs once per element
}

// ID helpers give each kind of node its own namespace.
func InputID(name string) string  { return "in_" + name }
func TaskID(name string) string   { return "task_" + name }
func OutputID(name string) string { return "out_" + name }

// Formats lists the formats Render accepts.
var Formats = []string{"json", "mermaid", "dot", "svg"}

// Render renders g in format (json, mermaid, dot or svg).
func Render(g *Graph, format string) ([]byte, error) {
	switch format {
	case "json":
		b, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	case "mermaid":
		return []byte(Mermaid(g)), nil
	case "dot":
		return []byte(DOT(g)), nil
	case "svg":
		return []byte(SVG(g)), nil
	}
	return nil, fmt.Errorf("unknown graph format %q; use json, mermaid, dot or svg", format)
}

func (n Node) label() string {
	switch n.Kind {
	case KindTask:
		if n.MapOf != "" {
			return fmt.Sprintf("%s (map over %s)", n.Name, n.MapOf)
		}
		return n.Name
	default:
		if n.Type != "" {
			return n.Name + ": " + n.Type
		}
		return n.Name
	}
}

// mermaidText escapes a label for a quoted Mermaid string.
var mermaidText = strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ")

// Mermaid renders g as a Mermaid flowchart.
func Mermaid(g *Graph) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range g.Nodes {
		l := mermaidText.Replace(n.label())
		switch {
		case n.Kind == KindInput:
			fmt.Fprintf(&b, "  %s[/\"%s\"/]\n", n.ID, l)
		case n.Kind == KindOutput:
			fmt.Fprintf(&b, "  %s([\"%s\"])\n", n.ID, l)
		case n.MapOf != "":
			fmt.Fprintf(&b, "  %s[[\"%s\"]]\n", n.ID, l)
		default:
			fmt.Fprintf(&b, "  %s[\"%s\"]\n", n.ID, l)
		}
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.Map {
			arrow = "==>"
		}
		fmt.Fprintf(&b, "  %s %s|%s| %s\n", e.From, arrow, mermaidText.Replace(e.Name), e.To)
	}
	return b.String()
}

// dotText escapes a string for a quoted DOT ID.
var dotText = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// DOT renders g as a Graphviz digraph.
func DOT(g *Graph) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box];\n", dotText.Replace(g.Pipeline))
	for _, n := range g.Nodes {
		attrs := ""
		switch {
		case n.Kind == KindInput:
			attrs = ", shape=parallelogram"
		case n.Kind == KindOutput:
			attrs = ", shape=ellipse"
		case n.MapOf != "":
			attrs = ", shape=box3d"
		}
		fmt.Fprintf(&b, "  \"%s\" [label=\"%s\"%s];\n", n.ID, dotText.Replace(n.label()), attrs)
	}
	for _, e := range g.Edges {
		style := ""
		if e.Map {
			style = ", style=bold"
		}
		fmt.Fprintf(&b, "  \"%s\" -> \"%s\" [label=\"%s\"%s];\n", e.From, e.To, dotText.Replace(e.Name), style)
	}
	b.WriteString("}\n")
	return b.String()
}
