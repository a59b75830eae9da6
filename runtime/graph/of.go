// SPDX-License-Identifier: Apache-2.0

package graph

import "github.com/taskwire/taskwire/runtime"

// Of returns the dataflow graph of p: its inputs, its tasks in p's order
// and its outputs (every task output when p.Outputs is empty), with an edge for every value passed between them (from
// pipeline inputs, then between tasks, then to outputs, each in task order).
func Of(p runtime.Pipeline) *Graph {
	g := &Graph{Pipeline: p.ID, Nodes: []Node{}, Edges: []Edge{}}
	for _, in := range p.Inputs {
		g.Nodes = append(g.Nodes, Node{ID: InputID(in.Name), Kind: KindInput, Name: in.Name, Type: in.Type})
	}
	producer := map[string]string{}
	for _, t := range p.Tasks {
		g.Nodes = append(g.Nodes, Node{ID: TaskID(t.Name), Kind: KindTask, Name: t.Name, Type: t.Type, MapOf: t.Map})
		producer[t.Output] = t.Name
	}
	outputs := p.Outputs
	if len(outputs) == 0 { // every task output
		for _, t := range p.Tasks {
			outputs = append(outputs, runtime.Field{Name: t.Output, Type: t.Type, Required: true})
		}
	}
	for _, o := range outputs {
		g.Nodes = append(g.Nodes, Node{ID: OutputID(o.Name), Kind: KindOutput, Name: o.Name, Type: o.Type})
	}
	for _, t := range p.Tasks {
		for _, in := range t.Inputs {
			if _, ok := producer[in]; !ok {
				g.Edges = append(g.Edges, Edge{From: InputID(in), To: TaskID(t.Name), Name: in, Map: t.Map == in})
			}
		}
	}
	for _, t := range p.Tasks {
		for _, in := range t.Inputs {
			if from, ok := producer[in]; ok {
				g.Edges = append(g.Edges, Edge{From: TaskID(from), To: TaskID(t.Name), Name: in, Map: t.Map == in})
			}
		}
	}
	for _, o := range outputs {
		if from, ok := producer[o.Name]; ok {
			g.Edges = append(g.Edges, Edge{From: TaskID(from), To: OutputID(o.Name), Name: o.Name})
		}
	}
	return g
}
