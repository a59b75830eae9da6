// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

func runGraph(e *env, args []string) int {
	fs := newFlags(e, "graph")
	pipeline := fs.String("pipeline", "", "the pipeline to draw (default: every pipeline)")
	format := fs.String("format", "mermaid", "output format: mermaid, dot, json or svg")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if !oneOf(*format, rtgraph.Formats...) {
		return usageError(e, "graph", "unknown format %q; use %s", *format, quoteList(rtgraph.Formats))
	}
	if len(files) != 1 {
		return usageError(e, "graph", "name exactly one spec file")
	}
	m, code := loadModel(e, "graph", files[0])
	if m == nil {
		return code
	}
	pipelines := m.Pipelines
	if *pipeline != "" {
		p := m.Pipeline(*pipeline)
		if p == nil {
			names := make([]string, len(m.Pipelines))
			for i, p := range m.Pipelines {
				names[i] = p.Name
			}
			return usageError(e, "graph", "no pipeline %q in %s%s", *pipeline, files[0], diag.DidYouMean(*pipeline, names))
		}
		pipelines = []*model.Pipeline{p}
	}
	if *format == "svg" && len(pipelines) != 1 {
		return usageError(e, "graph", "an SVG image draws one pipeline; name it with --pipeline")
	}
	if *format == "json" && len(pipelines) != 1 {
		graphs := make([]*rtgraph.Graph, len(pipelines))
		for i, p := range pipelines {
			graphs[i] = rtgraph.Of(p.Descriptor())
		}
		return writeJSON(e, "graph", graphs)
	}
	for i, p := range pipelines {
		out, err := rtgraph.Render(rtgraph.Of(p.Descriptor()), *format)
		if err != nil {
			fmt.Fprintf(e.stderr, "taskwire graph: %v\n", err)
			return exitUsage
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if _, err := e.stdout.Write(out); err != nil {
			return exitUsage
		}
	}
	return exitOK
}
