// Package graph is the graph back end: it turns a pipeline of the model into
// the task graph that runtime/graph renders as JSON, Mermaid or DOT.
package graph

import (
	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

// Gen returns the dataflow graph of p: its inputs, tasks in topological order
// and outputs, with an edge for every value passed between them.
func Gen(p *model.Pipeline) *rtgraph.Graph {
	g := &rtgraph.Graph{Pipeline: p.Name, Nodes: []rtgraph.Node{}, Edges: []rtgraph.Edge{}}
	for _, in := range p.Inputs {
		g.Nodes = append(g.Nodes, rtgraph.Node{ID: rtgraph.InputID(in.Name), Kind: rtgraph.KindInput, Name: in.Name, Type: in.Type.String()})
	}
	produced := map[string]bool{}
	for _, t := range p.Tasks {
		n := rtgraph.Node{ID: rtgraph.TaskID(t.Name), Kind: rtgraph.KindTask, Name: t.Name, MapOf: t.Map}
		if t.OutputType != nil {
			n.Type = t.OutputType.String()
		}
		g.Nodes = append(g.Nodes, n)
		produced[t.Output] = true
	}
	for _, o := range p.Outputs {
		g.Nodes = append(g.Nodes, rtgraph.Node{ID: rtgraph.OutputID(o.Name), Kind: rtgraph.KindOutput, Name: o.Name, Type: o.Type.String()})
	}
	// Edges from pipeline inputs, then between tasks, then to outputs, each in topological order.
	for _, t := range p.Tasks {
		for _, in := range t.Inputs {
			if !produced[in.Name] {
				g.Edges = append(g.Edges, rtgraph.Edge{From: rtgraph.InputID(in.Name), To: rtgraph.TaskID(t.Name), Name: in.Name, Map: t.Map == in.Name})
			}
		}
	}
	for _, e := range p.Edges {
		g.Edges = append(g.Edges, rtgraph.Edge{From: rtgraph.TaskID(e.From.Name), To: rtgraph.TaskID(e.To.Name), Name: e.Name, Map: e.IsMap})
	}
	for _, o := range p.Outputs {
		if t := p.Producer(o.Name); t != nil {
			g.Edges = append(g.Edges, rtgraph.Edge{From: rtgraph.TaskID(t.Name), To: rtgraph.OutputID(o.Name), Name: o.Name})
		}
	}
	return g
}
