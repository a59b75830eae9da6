// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

// taskStatuses are the statuses a task of a run can have (docs/http-api.md).
var taskStatuses = []any{"pending", "running", "retrying", "succeeded", "failed", "cancelled", "skipped"}

// exampleTime is the time every example uses.
const exampleTime = "2026-01-02T15:04:05Z"

// exampleRunID is the run id every example uses.
const exampleRunID = "r_01JDQ4Z6X8N5K2M3P4Q5R6S7T8"

// sharedSchemas defines the schemas of the API that do not depend on the
// spec's types: runs, pipelines' descriptions, graphs, health and problems.
func (g *gen) sharedSchemas() {
	g.define(g.taskState, object("The state of one task of a run.", []string{"status", "attempts", "error", "started_at", "finished_at"}, openapi3.Schemas{
		"status":      sref(withEnum(str("The task's status."), taskStatuses...)),
		"attempts":    sref(withMin(integer("How many times the task has been tried so far."), 0)),
		"error":       sref(nullable(str("The task's last error; null when it has none."))),
		"started_at":  sref(nullable(dateTime("When the task's first attempt started; null until then."))),
		"finished_at": sref(nullable(dateTime("When the task finished (succeeded, failed or was cancelled); null until then."))),
	}))

	anyOutputs := &openapi3.Schema{
		Type:                 &openapi3.Types{openapi3.TypeObject},
		Description:          "The pipeline's outputs by name when the run succeeded; `{}` until then. The execute operation of each pipeline describes their types.",
		AdditionalProperties: openapi3.AdditionalProperties{Schema: sref(&openapi3.Schema{})},
	}
	g.define(g.run, g.runSchema("A run of a pipeline.", nil, sref(anyOutputs)))

	g.define(g.runAccepted, object("A run that was started (or, with the same Idempotency-Key, the run an earlier request started).", []string{"run_id", "status"}, openapi3.Schemas{
		"run_id":   sref(withExample(str("The run's id; read the run at /runs/{run_id}."), exampleRunID)),
		"status":   sref(withEnum(str("The run's status."), g.runStatuses...)),
		"rerun_of": sref(withExample(str("For a re-run (POST /runs/{run_id}/rerun): the run whose inputs it runs again."), exampleRunID)),
	}))

	runs := openapi3.NewArraySchema()
	runs.Items = g.ref(g.run)
	runs.Description = "The runs, newest first."
	g.define(g.runList, object("A page of runs.", []string{"runs"}, openapi3.Schemas{
		"runs":        sref(runs),
		"next_cursor": sref(str("Pass as `cursor` to read the next page; absent on the last page.")),
	}))

	ids := openapi3.NewArraySchema()
	ids.Items = sref(str(""))
	ids.Description = "Pipeline ids, in spec order."
	g.define(g.pipelineList, object("The pipelines the caller may read.", []string{"pipelines"}, openapi3.Schemas{"pipelines": sref(ids)}))

	index := nullable(withMin(integer("For an element of a map task: its index in the list; null for a task that is not one."), 0))
	g.define(g.deadLetter, object("A task execution the broker gave up on: it failed permanently, or used up its deliveries. Its run failed.", []string{"id", "pipeline_id", "run_id", "task", "index", "attempts", "last_error", "exhausted", "time"}, openapi3.Schemas{
		"id":          sref(withExample(str("The dead letter's id, for POST /dead-letters/{dead_letter_id}/requeue."), "cl8wMUpEUTRaNlg4TjVLMk0zUDRRNVI2UzdUOC9iLy0x")),
		"pipeline_id": sref(str("The pipeline of the run.")),
		"run_id":      sref(withExample(str("The run the execution belongs to."), exampleRunID)),
		"task":        sref(str("The task.")),
		"index":       sref(index),
		"attempts":    sref(withMin(integer("How many times the execution was delivered."), 1)),
		"last_error":  sref(str("Why it was given up on: the task's last error, or that its deliveries ran out.")),
		"exhausted":   sref(boolean("Whether the broker's delivery limit was used up, rather than a permanent failure ending it.")),
		"time":        sref(dateTime("When it was dead-lettered.")),
	}))
	dls := openapi3.NewArraySchema()
	dls.Items = g.ref(g.deadLetter)
	dls.Description = "The dead letters, newest first."
	g.define(g.deadLetterList, object("A page of dead letters.", []string{"dead_letters"}, openapi3.Schemas{
		"dead_letters": sref(dls),
		"next_cursor":  sref(str("Pass as `cursor` to read the next page; absent on the last page.")),
	}))

	g.define(g.pipeline, pipelineSchema())
	g.define(g.graph, graphSchema())
	g.define(g.health, object("The server is up.", []string{"status"}, openapi3.Schemas{
		"status": sref(withEnum(str(""), "ok")),
	}))
	g.define(g.problem, problemSchema())

	auth := openapi3.NewArraySchema()
	auth.Items = sref(withEnum(str(""), "api_key", "jwt"))
	auth.Description = "The credentials the sign-in offers: an API key, a bearer token, or both; empty when the service has no security."
	g.define(g.consoleConfig, object("What the console's sign-in needs to know before any credential: nothing of the service's data.", []string{"title", "auth"}, openapi3.Schemas{
		"title":          sref(str("The service's title.")),
		"auth":           sref(auth),
		"api_key_header": sref(withExample(str("The header API keys are sent in; absent without API keys."), "X-API-Key")),
	}))
}

// authMethods are the credentials the service accepts, as the console's
// settings name them.
func (g *gen) authMethods() []any {
	out := []any{}
	if !g.secured() {
		return out
	}
	for _, a := range g.m.Security.Auth {
		switch a {
		case model.AuthAPIKey:
			out = append(out, "api_key")
		case model.AuthJWT:
			out = append(out, "jwt")
		}
	}
	return out
}

// apiKeyHeader is the header of API keys, or "" without them.
func (g *gen) apiKeyHeader() string {
	for _, a := range g.authMethods() {
		if a == "api_key" {
			return g.m.Security.APIKeyHeader
		}
	}
	return ""
}

// runSchema is the schema of a run whose outputs are described by outputs;
// pipelineIDs, when given, are the only pipeline ids it may have.
func (g *gen) runSchema(description string, pipelineIDs []any, outputs *openapi3.SchemaRef) *openapi3.Schema {
	tasks := &openapi3.Schema{
		Type:                 &openapi3.Types{openapi3.TypeObject},
		Description:          "The state of every task of the pipeline, by task name.",
		AdditionalProperties: openapi3.AdditionalProperties{Schema: g.ref(g.taskState)},
	}
	return object(description, []string{"run_id", "pipeline_id", "status", "created_at", "started_at", "finished_at", "tasks", "outputs", "error"}, openapi3.Schemas{
		"run_id":      sref(withExample(str("The run's id."), exampleRunID)),
		"pipeline_id": sref(withEnum(str("The pipeline the run runs."), pipelineIDs...)),
		"status":      sref(withEnum(str("The run's status."), g.runStatuses...)),
		"created_at":  sref(dateTime("When the run was created.")),
		"started_at":  sref(nullable(dateTime("When the run started; null until then."))),
		"finished_at": sref(nullable(dateTime("When the run finished; null until then."))),
		"tasks":       sref(tasks),
		"outputs":     outputs,
		"error":       sref(nullable(str("Why the run failed: the failed task and its error; null unless it failed."))),
		"rerun_of":    sref(withExample(str("For a re-run: the run whose inputs this one runs again; absent otherwise."), exampleRunID)),
	})
}

func pipelineSchema() *openapi3.Schema {
	strList := func(desc string) *openapi3.SchemaRef {
		s := openapi3.NewArraySchema()
		s.Items = sref(str(""))
		s.Description = desc
		return sref(s)
	}
	list := func(desc string, item *openapi3.Schema) *openapi3.SchemaRef {
		s := openapi3.NewArraySchema()
		s.Items = sref(item)
		s.Description = desc
		return sref(s)
	}
	typ := str("The value's type in spec syntax, for example `string` or `[]Result`.")
	input := object("", []string{"name", "type", "required"}, openapi3.Schemas{
		"name":     sref(str("The field of the execute body.")),
		"type":     sref(typ),
		"required": sref(boolean("Whether the execute body must have it.")),
	})
	output := object("", []string{"name", "type"}, openapi3.Schemas{
		"name": sref(str("The output's name.")),
		"type": sref(typ),
	})
	task := object("", []string{"name", "inputs", "output", "type"}, openapi3.Schemas{
		"name":   sref(str("The task's name.")),
		"inputs": strList("The task's inputs, by name."),
		"output": sref(str("The name of the value the task produces.")),
		"type":   sref(typ),
		"map":    sref(str("For a map task: the list input it runs once per element of.")),
	})
	actions := openapi3.NewArraySchema()
	actions.Items = sref(withEnum(str(""), "read", "execute", "write", "all_runs"))
	actions.Description = "The actions the caller holds on the pipeline: `read` (see it and its runs), `execute` (start and re-run runs), `write` (cancel runs, see and requeue dead letters), `all_runs` (do so for every principal's runs, not only the caller's own)."
	return object("A pipeline: its inputs, outputs and tasks.", []string{"id", "inputs", "outputs", "tasks", "actions"}, openapi3.Schemas{
		"id":          sref(str("The pipeline's id.")),
		"description": sref(str("What the pipeline does.")),
		"inputs":      list("The pipeline's inputs: the fields of its execute body.", input),
		"outputs":     list("The values a succeeded run returns.", output),
		"tasks":       list("The pipeline's tasks, in topological order.", task),
		"timeout":     sref(withExample(str("The run's time limit as a Go duration; absent when not set."), "5m0s")),
		"rate_limit":  sref(withExample(str("The rate limit of the pipeline's execute route; absent when not set."), "10/minute")),
		"actions":     sref(actions),
	})
}

// graphSchema describes runtime/graph.Graph, what format=json renders.
func graphSchema() *openapi3.Schema {
	node := object("A pipeline input, a task or a pipeline output.", []string{"id", "kind", "name"}, openapi3.Schemas{
		"id":       sref(str("Unique within the graph.")),
		"kind":     sref(withEnum(str(""), rtgraph.KindInput, rtgraph.KindTask, rtgraph.KindOutput)),
		"name":     sref(str("The input's, task's or output's name.")),
		"type":     sref(str("The value's type in spec syntax (inputs, outputs, and tasks' outputs).")),
		"map_over": sref(str("For a map task: the list input it runs once per element of.")),
	})
	edge := object("Carries the value name from one node to another.", []string{"from", "to", "name"}, openapi3.Schemas{
		"from": sref(str("The id of the node the value comes from.")),
		"to":   sref(str("The id of the node the value goes to.")),
		"name": sref(str("The value's name.")),
		"map":  sref(boolean("The target runs once per element of the value.")),
	})
	nodes, edges := openapi3.NewArraySchema(), openapi3.NewArraySchema()
	nodes.Items, edges.Items = sref(node), sref(edge)
	return object("A pipeline's dataflow graph.", []string{"pipeline", "nodes", "edges"}, openapi3.Schemas{
		"pipeline": sref(str("The pipeline's id.")),
		"nodes":    sref(nodes),
		"edges":    sref(edges),
	})
}

// problemSchema describes an RFC 9457 problem detail.
func problemSchema() *openapi3.Schema {
	fieldErr := object("One offending field.", []string{"path", "message"}, openapi3.Schemas{
		"path":    sref(withExample(str("The field's path: object keys joined with `.`, list indexes as `[i]`; empty for the body itself."), "sections[2].heading")),
		"message": sref(withExample(str("What is wrong with it."), "must be one of [ok failed]")),
	})
	errs := openapi3.NewArraySchema()
	errs.Items = sref(fieldErr)
	errs.Description = "For an invalid request body: every offending field."
	typ := str("A URI reference that identifies the problem type.")
	typ.Format = "uri-reference"
	typ.Default = "about:blank"
	status := withMin(integer("The HTTP status code."), 100)
	status.Max = ptr(599.0)
	return object("An error (RFC 9457 problem details).", []string{"type", "title", "status", "detail"}, openapi3.Schemas{
		"type":       sref(typ),
		"title":      sref(str("A short summary of the problem type: the status text.")),
		"status":     sref(status),
		"detail":     sref(str("What went wrong with this request.")),
		"request_id": sref(str("The request's id, also sent as X-Request-Id; audit log lines carry it too.")),
		"errors":     sref(errs),
	})
}

// Small schema builders.

func sref(s *openapi3.Schema) *openapi3.SchemaRef { return openapi3.NewSchemaRef("", s) }

func str(description string) *openapi3.Schema {
	s := openapi3.NewStringSchema()
	s.Description = description
	return s
}

func integer(description string) *openapi3.Schema {
	s := openapi3.NewInt64Schema()
	s.Description = description
	return s
}

func boolean(description string) *openapi3.Schema {
	s := openapi3.NewBoolSchema()
	s.Description = description
	return s
}

func dateTime(description string) *openapi3.Schema {
	s := openapi3.NewDateTimeSchema()
	s.Description = description
	return s
}

func object(description string, required []string, props openapi3.Schemas) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	s.Description = description
	s.Required = required
	s.Properties = props
	return s
}

func nullable(s *openapi3.Schema) *openapi3.Schema {
	s.Nullable = true
	return s
}

func withEnum(s *openapi3.Schema, values ...any) *openapi3.Schema {
	s.Enum = values
	return s
}

func withMin(s *openapi3.Schema, min float64) *openapi3.Schema {
	s.Min = &min
	return s
}

func withExample(s *openapi3.Schema, example any) *openapi3.Schema {
	s.Example = example
	return s
}
