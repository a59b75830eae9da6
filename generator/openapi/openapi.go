// SPDX-License-Identifier: Apache-2.0

// Package openapi is the OpenAPI back end: it describes the HTTP API of a
// generated server (docs/http-api.md) as an OpenAPI 3.0.3 document, built and
// validated with kin-openapi. It reads only the model: routes, rate limits,
// types and security come resolved from package model.
package openapi

import (
	"context"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/model"
)

// Version is the OpenAPI version of the documents Gen builds. 3.0 is the
// version kin-openapi validates most completely and that most tools read.
const Version = "3.0.3"

// Gen is the back end (a generator.Backend): it returns the document of m
// as generator.OpenAPIFile, in JSON (see JSON).
func Gen(m *model.Model) ([]generator.File, error) {
	doc, err := JSON(m)
	if err != nil {
		return nil, err
	}
	return []generator.File{{Name: generator.OpenAPIFile, Content: doc}}, nil
}

// Document builds the OpenAPI document of m's HTTP API and validates it. The
// document holds every route of m.Routes (one execute operation per
// pipeline, with the pipeline's typed body), a schema for every named type,
// and the shared schemas, responses and headers of the API. An error means
// the model could not be described as a valid document.
func Document(m *model.Model) (*openapi3.T, error) {
	if m == nil {
		return nil, fmt.Errorf("openapi: no model")
	}
	g := newGen(m)
	if err := g.build(); err != nil {
		return nil, err
	}
	if err := g.doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the document of %s is invalid: %w", m.File, err)
	}
	return g.doc, nil
}

// JSON returns the document of m as JSON indented by two spaces, with a
// trailing newline. The bytes are the same on every call for the same model.
func JSON(m *model.Model) ([]byte, error) {
	doc, err := Document(m)
	if err != nil {
		return nil, err
	}
	return encodeJSON(doc, routePaths(m))
}

// YAML returns the document of m as YAML, keys in the same order as JSON's.
// The bytes are the same on every call for the same model.
func YAML(m *model.Model) ([]byte, error) {
	doc, err := Document(m)
	if err != nil {
		return nil, err
	}
	js, err := encodeJSON(doc, routePaths(m))
	if err != nil {
		return nil, err
	}
	return jsonToYAML(js)
}

// routePaths lists the paths of m's routes in route order, the order the
// document lists them in.
func routePaths(m *model.Model) []string {
	var out []string
	seen := map[string]bool{}
	for _, rt := range m.Routes {
		if !seen[rt.Path] {
			seen[rt.Path] = true
			out = append(out, rt.Path)
		}
	}
	return out
}

// gen builds one document.
type gen struct {
	m     *model.Model
	doc   *openapi3.T
	names *namer
	// The component names of the shared schemas, chosen so that no named
	// type of the spec takes them.
	run, taskState, runAccepted, runList, pipelineList, pipeline, graph, health, problem, consoleConfig string
	deadLetter, deadLetterList                                                                          string
	runStatuses                                                                                         []any
	runResults                                                                                          map[string]string // pipeline name -> its RunResult schema
	// err is the first inconsistency met while building (a case the model
	// never produces); build returns it.
	err error
}

// fail records the first inconsistency met while building.
func (g *gen) fail(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("openapi: "+format, args...)
	}
}

func newGen(m *model.Model) *gen {
	comps := openapi3.NewComponents()
	comps.Schemas = openapi3.Schemas{}
	g := &gen{
		m: m,
		doc: &openapi3.T{
			OpenAPI:    Version,
			Components: &comps,
			Paths:      openapi3.NewPaths(),
		},
		names:       newNamer(m),
		runStatuses: []any{"pending", "running", "succeeded", "failed", "cancelled"},
		runResults:  map[string]string{},
	}
	g.run = g.names.take("Run")
	g.taskState = g.names.take("TaskState")
	g.runAccepted = g.names.take("RunAccepted")
	g.runList = g.names.take("RunList")
	g.pipelineList = g.names.take("PipelineList")
	g.pipeline = g.names.take("Pipeline")
	g.graph = g.names.take("Graph")
	g.health = g.names.take("Health")
	g.problem = g.names.take("Problem")
	g.consoleConfig = g.names.take("ConsoleConfig")
	g.deadLetter = g.names.take("DeadLetter")
	g.deadLetterList = g.names.take("DeadLetterList")
	return g
}

func (g *gen) build() error {
	g.info()
	g.namedTypes()
	g.sharedSchemas()
	g.pipelineSchemas()
	g.security()
	if err := g.operations(); err != nil {
		return err
	}
	return g.err
}

// Tags group the operations; every route's Tag is one of these.
var tags = openapi3.Tags{
	{Name: "pipelines", Description: "Pipelines: describe them, draw their task graphs and start runs."},
	{Name: "runs", Description: "Runs: list, read, follow, cancel and re-run them."},
	{Name: "dead-letters", Description: "Dead letters: task executions the broker gave up on (a permanent failure, or deliveries used up), to see and requeue."},
	{Name: "meta", Description: "The service itself: this document, its documentation page, the console (a web page over this API) and a liveness check."},
}

func (g *gen) info() {
	s := g.m.Service
	g.doc.Info = &openapi3.Info{Title: s.Title, Version: s.Version, Description: s.Description}
	// The API is served from wherever this document is; "/" is also what
	// OpenAPI assumes without servers, written out for tools that want one.
	g.doc.Servers = openapi3.Servers{{URL: "/", Description: "The server this document is served by"}}
	g.doc.Tags = tags
}
