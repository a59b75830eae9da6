// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator/model"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

const appJSON = "application/json"

// descriptions are the operations' descriptions (docs/http-api.md), by
// operation id; execute operations build theirs from the pipeline.
var descriptions = map[string]string{
	"list_pipelines":      "The ids of the pipelines the caller may read, in spec order.",
	"get_pipeline":        "The pipeline's inputs (the fields of its execute body), its outputs, its tasks in topological order, and the actions the caller holds on it. `timeout` and `rate_limit` are absent when not set.",
	"get_pipeline_graph":  "The pipeline's dataflow graph: its inputs, tasks and outputs, with an edge for every value passed between them. `format` picks JSON (the default), Mermaid, Graphviz DOT or an SVG image laid out by the server (each task a node with `data-task`): the same output as `taskwire graph`.",
	"list_runs":           "The runs the caller may read, newest first, a page at a time. Pass `next_cursor` back as `cursor` for the next page; `next_cursor` is absent on the last page.",
	"get_run":             "A run the caller may not read answers 404, exactly like a run that does not exist.",
	"cancel_run":          "Cancels a pending or running run and answers with the run. A run that has already finished answers 409.",
	"rerun_run":           "Starts a new run of the same pipeline with the inputs of a finished run (succeeded, failed or cancelled) and answers 202 with its id and a Location header, like execute; the new run's `rerun_of` names the original. A run that has not finished answers 409.",
	"list_dead_letters":   "The task executions the broker gave up on (a permanent failure, or deliveries used up), newest first, a page at a time like GET /runs. Each failed its run; requeue one to carry the run on.",
	"requeue_dead_letter": "Gives the dead letter's task a new delivery in its run: the failed run is running again (tasks that have not succeeded go back to pending, outputs already produced are kept, the pipeline timeout starts over), the dead letter is removed, and the answer is the run. A dead letter whose run is not failed (it was requeued already, or the run was cancelled) answers 409.",
	"run_events":          "A Server-Sent Events stream of the run: first a `snapshot` event whose data is the run, then one event per lifecycle change (`run_started`, `task_started`, `task_retrying`, `task_succeeded`, `task_failed`, `task_element_succeeded` and `task_element_failed` for the elements of a map task, `run_succeeded`, `run_failed`, `run_cancelled`), each with one JSON `data` line. The stream ends after the run ends.",
	"openapi":             "This OpenAPI document, as JSON.",
	"docs":                "An HTML page that renders this document. A browser that sends no credentials (a request that accepts `text/html` with neither an API key nor a bearer token) is redirected (303) to the console's API reference, `/ui/#/docs`, where it can sign in.",
	"console":             "The console: a web page to sign in, see the pipelines the credential may read, run them and watch runs live, and explore this API. It holds no data: everything it shows comes from this API with the credential the user enters, kept in the browser's sessionStorage. Served with a Content-Security-Policy that allows only this origin's script, stylesheet and API.",
	"console_file":        "A file the console's page loads: `console.js`, `console.css`, `favicon.svg`, or `config.json` (the service's title and the authentication methods the sign-in offers).",
	"health":              "Answers 200 while the server is up. Needs no authentication.",
	"metrics":             "The service's metrics in the Prometheus text exposition format: requests by route and status code, authentication failures, 429s, runs and tasks by status, audit records and sync times, and the Go and process collectors. Label values are route, pipeline and task names and status words, never ids, keys or paths. Only the roles of `security.metrics.roles` may read it.",
}

// operations adds an operation for every route of the model.
func (g *gen) operations() error {
	for _, rt := range g.m.Routes {
		op, err := g.operation(rt)
		if err != nil {
			return err
		}
		g.doc.AddOperation(rt.Path, rt.Method, op)
	}
	return nil
}

func (g *gen) operation(rt *model.Route) (*openapi3.Operation, error) {
	op := &openapi3.Operation{
		OperationID: rt.OperationID,
		Summary:     rt.Summary,
		Tags:        []string{rt.Tag},
		Responses:   openapi3.NewResponses(),
	}
	desc := descriptions[rt.OperationID]
	takesInput := false
	for _, name := range pathParams(rt.Path) {
		op.Parameters = append(op.Parameters, g.parameter(name))
	}
	switch id := rt.OperationID; {
	case rt.Pipeline != "":
		p := g.m.Pipeline(rt.Pipeline)
		if p == nil {
			return nil, fmt.Errorf("openapi: route %s names pipeline %q, which the model does not have", id, rt.Pipeline)
		}
		desc = g.execute(op, p)
		takesInput = true
	case id == "list_pipelines":
		g.ok(op, "The pipelines the caller may read.", appJSON, g.ref(g.pipelineList), map[string]any{"pipelines": g.pipelineIDs()})
	case id == "get_pipeline":
		r := g.ok(op, "The pipeline.", appJSON, g.ref(g.pipeline), nil)
		r.Content[appJSON].Examples = g.perPipeline(func(p *model.Pipeline) any { return pipelineExample(p) })
	case id == "get_pipeline_graph":
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: query("format", "The graph's format: JSON (`application/json`), Mermaid (`text/vnd.mermaid`), Graphviz DOT (`text/vnd.graphviz`) or SVG (`image/svg+xml`).",
			&openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, Enum: toAny(rtgraph.Formats), Default: "json"})})
		r := g.ok(op, "The pipeline's graph, in the format asked for.", appJSON, g.ref(g.graph), nil)
		r.Content[appJSON].Examples = g.perPipeline(func(p *model.Pipeline) any { return graphExample(p, "json") })
		for _, f := range []struct{ format, media string }{{"mermaid", "text/vnd.mermaid"}, {"dot", "text/vnd.graphviz"}, {"svg", "image/svg+xml"}} {
			r.Content[f.media] = &openapi3.MediaType{
				Schema:   sref(str("The graph as " + map[string]string{"mermaid": "a Mermaid flowchart", "dot": "a Graphviz DOT digraph", "svg": "an SVG image"}[f.format] + ".")),
				Examples: g.perPipeline(func(p *model.Pipeline) any { return graphExample(p, f.format) }),
			}
		}
		takesInput = true
	case id == "list_runs":
		limit := &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeInteger}, Format: "int64", Min: ptr(1.0), Max: ptr(200.0), Default: 50}
		op.Parameters = append(op.Parameters,
			&openapi3.ParameterRef{Value: query("pipeline_id", "Only runs of this pipeline.", withEnum(str(""), g.pipelineIDs()...))},
			&openapi3.ParameterRef{Value: query("status", "Only runs with this status.", withEnum(str(""), g.runStatuses...))},
			&openapi3.ParameterRef{Value: query("limit", "At most this many runs.", limit)},
			&openapi3.ParameterRef{Value: query("cursor", "The `next_cursor` of the previous page.", str(""))},
		)
		g.ok(op, "A page of runs.", appJSON, g.ref(g.runList), nil)
		takesInput = true
	case id == "get_run":
		g.ok(op, "The run.", appJSON, g.ref(g.run), nil)
	case id == "cancel_run":
		g.ok(op, "The run, cancelled.", appJSON, g.ref(g.run), nil)
	case id == "rerun_run":
		accepted := openapi3.NewResponse().WithDescription("The new run was started.")
		accepted.Content = openapi3.Content{appJSON: &openapi3.MediaType{Schema: g.ref(g.runAccepted), Example: map[string]any{"run_id": exampleRunID, "status": "pending", "rerun_of": "r_01JDQ4Z6X8N5K2M3P4Q5R6S7T7"}}}
		accepted.Headers = openapi3.Headers{hdrLocation: g.header(hdrLocation)}
		op.Responses.Set("202", &openapi3.ResponseRef{Value: accepted})
	case id == "list_dead_letters":
		limit := &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeInteger}, Format: "int64", Min: ptr(1.0), Max: ptr(200.0), Default: 50}
		op.Parameters = append(op.Parameters,
			&openapi3.ParameterRef{Value: query("pipeline_id", "Only dead letters of this pipeline.", withEnum(str(""), g.pipelineIDs()...))},
			&openapi3.ParameterRef{Value: query("limit", "At most this many dead letters.", limit)},
			&openapi3.ParameterRef{Value: query("cursor", "The `next_cursor` of the previous page.", str(""))},
		)
		g.ok(op, "A page of dead letters.", appJSON, g.ref(g.deadLetterList), nil)
		takesInput = true
	case id == "requeue_dead_letter":
		g.ok(op, "The run, running again.", appJSON, g.ref(g.run), nil)
	case id == "run_events":
		events := str("A stream of events, each an `event:` line naming it and a `data:` line holding JSON.")
		example := "event: snapshot\ndata: {\"run_id\":\"" + exampleRunID + "\",\"status\":\"running\"}\n\nevent: task_started\ndata: {\"type\":\"task_started\",\"run_id\":\"" + exampleRunID + "\"}\n\n"
		g.ok(op, "The run's events.", "text/event-stream", sref(events), example)
	case id == "openapi":
		doc := &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeObject}, Description: "An OpenAPI " + Version + " document."}
		g.ok(op, "This document.", appJSON, sref(doc), nil)
	case id == "docs":
		g.ok(op, "The documentation page.", "text/html", sref(str("An HTML page.")), nil)
		lead := openapi3.NewResponse().WithDescription("A browser without credentials: see the console's API reference.")
		lead.Headers = openapi3.Headers{hdrLocation: g.header(hdrLocation)}
		op.Responses.Set("303", &openapi3.ResponseRef{Value: lead})
	case id == "console":
		g.ok(op, "The console's page.", "text/html", sref(str("An HTML page.")), nil)
	case id == "console_file":
		r := g.ok(op, "The file.", "text/javascript", sref(str("The console's script.")), nil)
		r.Content["text/css"] = &openapi3.MediaType{Schema: sref(str("The console's stylesheet."))}
		r.Content["image/svg+xml"] = &openapi3.MediaType{Schema: sref(str("The console's icon."))}
		config := map[string]any{"title": g.m.Service.Title, "auth": g.authMethods()}
		if h := g.apiKeyHeader(); h != "" {
			config["api_key_header"] = h
		}
		r.Content[appJSON] = &openapi3.MediaType{Schema: g.ref(g.consoleConfig), Example: config}
	case id == "health":
		g.ok(op, "The server is up.", appJSON, g.ref(g.health), map[string]any{"status": "ok"})
	case id == "metrics":
		g.ok(op, "The metrics.", "text/plain", sref(str("Metrics in the Prometheus text exposition format, version 0.0.4.")), "# TYPE taskwire_http_requests_total counter\ntaskwire_http_requests_total{code=\"200\",route=\"list_pipelines\"} 1\n")
	default:
		return nil, fmt.Errorf("openapi: the back end does not know route %s %s (operation %s); describe it in generator/openapi", rt.Method, rt.Path, id)
	}
	op.Description = g.describe(rt, desc)
	g.errors(op, rt, takesInput)
	if rt.Public || !g.secured() {
		// Explicitly none: `security: []`. Without security the document has
		// no global requirement either; saying so per operation is what
		// linters (Redocly's security-defined) ask for.
		op.Security = openapi3.NewSecurityRequirements()
	}
	return op, nil
}

// describe appends to desc what the route needs and how often it may be called.
func (g *gen) describe(rt *model.Route, desc string) string {
	parts := []string{desc}
	if g.secured() && !rt.Public {
		switch {
		case rt.OperationID == "list_pipelines":
			parts = append(parts, "Lists only the pipelines on which the caller has the `read` action.")
		case rt.OperationID == "list_runs":
			parts = append(parts, "Lists only runs of pipelines on which the caller has the `read` action.")
		case rt.OperationID == "list_dead_letters":
			parts = append(parts, "Lists only dead letters of pipelines on which the caller has the `write` action.")
		case rt.Action != "":
			parts = append(parts, fmt.Sprintf("Needs the `%s` action on the pipeline.", rt.Action))
		default:
			parts = append(parts, "Needs an authenticated caller.")
		}
	}
	switch {
	case rt.Limit != nil && rt.Public:
		parts = append(parts, fmt.Sprintf("Rate limit: %s per client address.", rt.Limit.String()))
	case rt.Limit != nil:
		parts = append(parts, fmt.Sprintf("Rate limit: %s per caller.", rt.Limit.String()))
	}
	return strings.Join(parts, "\n\n")
}

// ok adds the 200 response of op and returns it.
func (g *gen) ok(op *openapi3.Operation, desc, media string, schema *openapi3.SchemaRef, example any) *openapi3.Response {
	r := openapi3.NewResponse().WithDescription(desc)
	r.Content = openapi3.Content{media: &openapi3.MediaType{Schema: schema, Example: example}}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: r})
	return r
}

// execute fills in the execute operation of p and returns its description.
func (g *gen) execute(op *openapi3.Operation, p *model.Pipeline) string {
	wait := str("")
	wait.Example = "10s"
	key := str("")
	key.MinLength, key.MaxLength, key.Pattern = 1, ptr(uint64(255)), "^[!-~]+$"
	key.Example = "2f1c7e0a-order-42"
	op.Parameters = append(op.Parameters,
		&openapi3.ParameterRef{Value: query("wait", "Wait up to this long (a Go duration, at most `60s`) for the run to finish: a run that finishes in time is answered 200 with the whole run, otherwise 202.", wait)},
		&openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "Idempotency-Key", In: openapi3.ParameterInHeader,
			Description: "Makes a repeated request of this pipeline return the run the first one started: 1 to 255 visible ASCII characters. The same key with other inputs is answered 422.", Schema: sref(key)}},
	)

	body := &openapi3.MediaType{Schema: g.ref(p.InputGoName)}
	if ex, ok := newExampler().object(p.Inputs); ok {
		body.Example = ex
	}
	op.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{
		Description: fmt.Sprintf("The inputs of %s, decoded strictly.", p.Name),
		Required:    true,
		Content:     openapi3.Content{appJSON: body},
	}}

	done := openapi3.NewResponse().WithDescription("With `wait`: the run finished in time.")
	doneMT := &openapi3.MediaType{Schema: g.ref(g.runResults[p.Name])}
	if outs, ok := newExampler().object(p.Outputs); ok {
		doneMT.Example = runExample(p, outs)
	}
	done.Content = openapi3.Content{appJSON: doneMT}
	op.Responses.Set("200", &openapi3.ResponseRef{Value: done})

	accepted := openapi3.NewResponse().WithDescription("The run was started (or, with the same Idempotency-Key, had been).")
	accepted.Content = openapi3.Content{appJSON: &openapi3.MediaType{Schema: g.ref(g.runAccepted), Example: map[string]any{"run_id": exampleRunID, "status": "pending"}}}
	accepted.Headers = openapi3.Headers{hdrLocation: g.header(hdrLocation)}
	op.Responses.Set("202", &openapi3.ResponseRef{Value: accepted})

	var b strings.Builder
	fmt.Fprintf(&b, "Starts a run of pipeline %s", p.Name)
	if p.Description != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSuffix(p.Description, "."))
	}
	b.WriteString(".\n\nThe body holds the pipeline's inputs and is decoded strictly: malformed JSON, trailing data, a duplicate key, an unknown field, a value of the wrong JSON type or a missing required field is 400; a value that breaks a constraint is 422; a body over the limit is 413. The answer is 202 with the run's id and a Location header; with `wait`, a run that finishes in time is answered 200 with the whole run.")
	if p.Timeout > 0 {
		fmt.Fprintf(&b, " A run may take at most %s.", p.Timeout)
	}
	return b.String()
}

// errors adds the error responses of op.
func (g *gen) errors(op *openapi3.Operation, rt *model.Route, takesInput bool) {
	var codes []int
	if takesInput {
		codes = append(codes, 400)
	}
	if g.secured() && !rt.Public {
		codes = append(codes, 401, 403)
	}
	if len(pathParams(rt.Path)) > 0 {
		codes = append(codes, 404)
	}
	switch rt.OperationID {
	case "cancel_run", "rerun_run", "requeue_dead_letter":
		codes = append(codes, 409)
	}
	if rt.Pipeline != "" {
		codes = append(codes, 413, 422)
	}
	if rt.Limit == nil && rt.Public && g.secured() {
		codes = append(codes, 429) // the anonymous limit of the client address
	}
	if rt.Limit != nil {
		codes = append(codes, 429)
		// Every answer within the quota tells what is left of it.
		for _, code := range op.Responses.Keys() {
			if r := op.Responses.Value(code).Value; strings.HasPrefix(code, "2") {
				if r.Headers == nil {
					r.Headers = openapi3.Headers{}
				}
				r.Headers[hdrRateLimit] = g.header(hdrRateLimit)
			}
		}
	}
	codes = append(codes, 500, 503)
	for _, c := range codes {
		op.Responses.Set(strconv.Itoa(c), g.errorResponse(c))
	}
}

// perPipeline is one named example per pipeline.
func (g *gen) perPipeline(f func(p *model.Pipeline) any) openapi3.Examples {
	if len(g.m.Pipelines) == 0 {
		return nil
	}
	ex := openapi3.Examples{}
	for _, p := range g.m.Pipelines {
		ex[p.Name] = &openapi3.ExampleRef{Value: &openapi3.Example{Summary: p.Name, Value: f(p)}}
	}
	return ex
}

// pathParams lists the {names} of a path pattern, in order.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
		}
	}
	return out
}

func query(name, desc string, s *openapi3.Schema) *openapi3.Parameter {
	return &openapi3.Parameter{Name: name, In: openapi3.ParameterInQuery, Description: desc, Schema: sref(s)}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// pipelineExample is what get_pipeline answers for p.
func pipelineExample(p *model.Pipeline) map[string]any {
	typeOf := func(t *model.TypeRef) string { return strings.TrimSuffix(t.String(), "?") }
	inputs := []any{}
	for _, f := range p.Inputs {
		inputs = append(inputs, map[string]any{"name": f.Name, "type": typeOf(f.Type), "required": !f.Type.Optional})
	}
	outputs := []any{}
	for _, f := range p.Outputs {
		outputs = append(outputs, map[string]any{"name": f.Name, "type": typeOf(f.Type)})
	}
	tasks := []any{}
	for _, t := range p.Tasks {
		names := []any{}
		for _, in := range t.Inputs {
			names = append(names, in.Name)
		}
		task := map[string]any{"name": t.Name, "inputs": names, "output": t.Output}
		if t.OutputType != nil {
			task["type"] = typeOf(t.OutputType)
		}
		if t.Map != "" {
			task["map"] = t.Map
		}
		tasks = append(tasks, task)
	}
	ex := map[string]any{"id": p.Name, "inputs": inputs, "outputs": outputs, "tasks": tasks, "actions": []any{"read", "execute", "write"}}
	if p.Description != "" {
		ex["description"] = p.Description
	}
	if p.Timeout > 0 {
		ex["timeout"] = p.Timeout.String()
	}
	if p.RateLimit != nil {
		ex["rate_limit"] = p.RateLimit.String()
	}
	return ex
}

// graphExample is p's graph as get_pipeline_graph renders it in format.
func graphExample(p *model.Pipeline, format string) any {
	gr := rtgraph.Of(p.Descriptor())
	if format != "json" {
		b, err := rtgraph.Render(gr, format)
		if err != nil {
			return nil
		}
		return string(b)
	}
	// The JSON form, decoded, is exactly what the server sends.
	b, err := json.Marshal(gr)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	return v
}

// runExample is a succeeded run of p with outputs.
func runExample(p *model.Pipeline, outputs map[string]any) map[string]any {
	tasks := map[string]any{}
	for _, t := range p.Tasks {
		tasks[t.Name] = map[string]any{"status": "succeeded", "attempts": 1, "error": nil, "started_at": exampleTime, "finished_at": exampleTime}
	}
	return map[string]any{
		"run_id": exampleRunID, "pipeline_id": p.Name, "status": "succeeded",
		"created_at": exampleTime, "started_at": exampleTime, "finished_at": exampleTime,
		"tasks": tasks, "outputs": outputs, "error": nil,
	}
}
