// SPDX-License-Identifier: Apache-2.0

// Package route is the route table of every generated server (CONTRACT.md
// section 4): each route's method, path, operation id, the action it needs
// on a pipeline and its rate-limit family, and how a spec's rate limits
// apply to it. The model reads it to check rate-limit names and to write
// the OpenAPI document; the HTTP server reads it to bind its handlers. It is
// the one owner of these facts.
package route

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Action is what a request does to a pipeline; ACLs grant actions to roles.
type Action string

// The actions.
const (
	// Read sees pipelines, their graphs and their runs.
	Read Action = "read"
	// Execute starts runs.
	Execute Action = "execute"
	// Write cancels runs, and lists and requeues dead letters.
	Write Action = "write"
	// AllRuns extends read, execute and write from the runs a principal
	// started itself to every run of the pipeline: without it, another
	// principal's runs (and their dead letters) are answered 404. Only an
	// ACL grants it: with no ACLs, a principal sees its own runs only.
	AllRuns Action = "all_runs"
)

// Actions lists every action, in the order documents show them.
var Actions = []Action{Read, Execute, Write, AllRuns}

// The operation ids of the fixed routes.
const (
	ListPipelines    = "list_pipelines"
	GetPipeline      = "get_pipeline"
	GetPipelineGraph = "get_pipeline_graph"
	ListRuns         = "list_runs"
	GetRun           = "get_run"
	CancelRun        = "cancel_run"
	RerunRun         = "rerun_run"
	RunEvents        = "run_events"
	ListDeadLetters  = "list_dead_letters"
	RequeueDead      = "requeue_dead_letter"
	OpenAPI          = "openapi"
	Docs             = "docs"
	Console          = "console"
	ConsoleFile      = "console_file"
	Health           = "health"
	Metrics          = "metrics"
)

// ConsoleRate is the limit of each console route per client address. A
// page load is a handful of requests; a flood from one address gets 429
// before any handler runs.
var ConsoleRate = Rate{N: 120, Per: time.Minute}

// DefaultAnonymousRate is the limit per client address of the requests that
// are not authenticated, when the spec's security.rate_limits.anonymous
// does not set it.
var DefaultAnonymousRate = Rate{N: 20, Per: time.Second}

// KeyExecute is the rate-limit family of every pipeline's execute route:
// security.rate_limits.routes.execute limits them all.
const KeyExecute = "execute"

// Route is one HTTP route.
type Route struct {
	Method string
	// Path uses net/http pattern syntax: /runs/{run_id}.
	Path        string
	OperationID string
	// Key is the rate-limit family: the operation id, or KeyExecute for the
	// execute routes.
	Key string
	// Action is the pipeline action the route needs; "" for a route that
	// is not about one pipeline (or decides per pipeline, like list_runs).
	Action Action
	// Pipeline is the pipeline of an execute route (or of a user route
	// that needs Action on it).
	Pipeline string
	// Public routes are served without authentication. The spec's rate
	// limits never apply to them; AddressLimit may.
	Public bool
	// AddressLimit is a public route's own limit per client address (the
	// console's routes have one; health has none). Limits.Apply makes it
	// the route's Limit when the spec's rate limits are on.
	AddressLimit *Rate
	// Limit is the route's rate limit; nil means unlimited.
	Limit *Rate
	// Summary is one line for documents; Tag groups routes in them.
	Summary, Tag string
}

// IsExecute reports whether r is a pipeline's execute route.
func (r *Route) IsExecute() bool { return r.Key == KeyExecute && r.Pipeline != "" }

// ExecuteID returns the operation id of pipeline's execute route.
func ExecuteID(pipeline string) string { return "execute_" + pipeline }

// fixed is the table without the execute routes, which follow
// get_pipeline_graph.
var fixed = []Route{
	{Method: http.MethodGet, Path: "/pipelines", OperationID: ListPipelines, Action: Read, Tag: "pipelines", Summary: "List the pipelines the caller may read"},
	{Method: http.MethodGet, Path: "/pipelines/{pipeline_id}", OperationID: GetPipeline, Action: Read, Tag: "pipelines", Summary: "Describe a pipeline"},
	{Method: http.MethodGet, Path: "/pipelines/{pipeline_id}/graph", OperationID: GetPipelineGraph, Action: Read, Tag: "pipelines", Summary: "A pipeline's task graph as JSON, Mermaid, DOT or SVG"},
	{Method: http.MethodGet, Path: "/runs", OperationID: ListRuns, Action: Read, Tag: "runs", Summary: "List runs the caller may read"},
	{Method: http.MethodGet, Path: "/runs/{run_id}", OperationID: GetRun, Action: Read, Tag: "runs", Summary: "Read a run"},
	{Method: http.MethodPost, Path: "/runs/{run_id}/cancel", OperationID: CancelRun, Action: Write, Tag: "runs", Summary: "Cancel a run"},
	{Method: http.MethodPost, Path: "/runs/{run_id}/rerun", OperationID: RerunRun, Action: Execute, Tag: "runs", Summary: "Start a new run with the inputs of a finished run"},
	{Method: http.MethodGet, Path: "/runs/{run_id}/events", OperationID: RunEvents, Action: Read, Tag: "runs", Summary: "Stream a run's events (Server-Sent Events)"},
	{Method: http.MethodGet, Path: "/dead-letters", OperationID: ListDeadLetters, Action: Write, Tag: "dead-letters", Summary: "List the task executions given up on, of pipelines the caller may write"},
	{Method: http.MethodPost, Path: "/dead-letters/{dead_letter_id}/requeue", OperationID: RequeueDead, Action: Write, Tag: "dead-letters", Summary: "Deliver a dead-lettered task again in its run"},
	{Method: http.MethodGet, Path: "/openapi.json", OperationID: OpenAPI, Tag: "meta", Summary: "This API's OpenAPI document"},
	{Method: http.MethodGet, Path: "/docs", OperationID: Docs, Tag: "meta", Summary: "API documentation page"},
	{Method: http.MethodGet, Path: "/ui/", OperationID: Console, Public: true, AddressLimit: &ConsoleRate, Tag: "meta", Summary: "The console: a web page to watch and run pipelines"},
	{Method: http.MethodGet, Path: "/ui/{file}", OperationID: ConsoleFile, Public: true, AddressLimit: &ConsoleRate, Tag: "meta", Summary: "A file of the console: its script, stylesheet, icon or settings"},
	{Method: http.MethodGet, Path: "/healthz", OperationID: Health, Public: true, Tag: "meta", Summary: "Liveness check"},
}

// metricsRoute is the route of a service whose spec enables metrics.
var metricsRoute = Route{Method: http.MethodGet, Path: "/metrics", OperationID: Metrics, Tag: "meta", Summary: "Prometheus metrics, for the roles of security.metrics"}

// Table returns the routes of a service with the given pipelines, in a
// fixed order: the fixed routes, with one execute route per pipeline (in
// the order given) after get_pipeline_graph, then GET /metrics when metrics
// is set (the spec has security.metrics). No route has a Limit; see
// Limits.Apply.
func Table(pipelines []string, metrics bool) []Route {
	out := make([]Route, 0, len(fixed)+len(pipelines)+1)
	for _, r := range fixed {
		r.Key = r.OperationID
		if r.AddressLimit != nil { // the caller's own copy
			rate := *r.AddressLimit
			r.AddressLimit = &rate
		}
		out = append(out, r)
		if r.OperationID == GetPipelineGraph {
			for _, p := range pipelines {
				out = append(out, Route{
					Method: http.MethodPost, Path: "/pipelines/" + p + "/execute",
					OperationID: ExecuteID(p), Key: KeyExecute, Action: Execute, Pipeline: p,
					Tag: "pipelines", Summary: "Start a run of " + p,
				})
			}
		}
	}
	if metrics {
		r := metricsRoute
		r.Key = r.OperationID
		out = append(out, r)
	}
	return out
}

// Names returns the names security.rate_limits.routes may use for a table:
// every operation id of a route that is not public, and KeyExecute.
func Names(table []Route) []string {
	var names []string
	for _, r := range table {
		if !r.Public {
			names = append(names, r.OperationID)
		}
	}
	return append(names, KeyExecute)
}

// Rate is N requests per Per, refilled evenly.
type Rate struct {
	N   int
	Per time.Duration
}

var units = []struct {
	name string
	d    time.Duration
}{{"second", time.Second}, {"minute", time.Minute}, {"hour", time.Hour}, {"day", 24 * time.Hour}}

// String returns the rate as a spec writes it, for example "10/minute".
func (r Rate) String() string {
	for _, u := range units {
		if r.Per == u.d {
			return strconv.Itoa(r.N) + "/" + u.name
		}
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

var rateRE = regexp.MustCompile(`^([0-9]+)/(second|minute|hour|day)$`)

// ParseRate parses N/second, N/minute, N/hour or N/day, with N from 1 to
// 1,000,000,000.
func ParseRate(s string) (Rate, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return Rate{}, fmt.Errorf("%q is not a rate; write N/second, N/minute, N/hour or N/day, for example 60/minute", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > 1_000_000_000 {
		return Rate{}, fmt.Errorf("rate %q must allow between 1 and 1000000000 requests per %s", s, m[2])
	}
	r := Rate{N: n}
	for _, u := range units {
		if u.name == m[2] {
			r.Per = u.d
		}
	}
	return r, nil
}

// Limits are a service's rate limits as its spec declares them.
type Limits struct {
	// Default limits every route that is not public and not named in
	// Routes; nil leaves those unlimited.
	Default *Rate
	// Routes limits routes by operation id, or every execute route by
	// KeyExecute. A pipeline's own rate_limit is its execute route's
	// operation id here.
	Routes map[string]Rate
}

// For returns the limit of r: Routes by operation id, else by key, else
// Default; for a public route, its AddressLimit (nil for most).
func (l *Limits) For(r *Route) *Rate {
	_, rt := l.Which(r)
	return rt
}

// Which returns the limit of r as For does, and the name in Routes it comes
// from ("" for Default, a public route's own limit, or none).
func (l *Limits) Which(r *Route) (string, *Rate) {
	if l == nil {
		return "", nil
	}
	if r.Public {
		return "", r.AddressLimit
	}
	for _, name := range []string{r.OperationID, r.Key} {
		if rt, ok := l.Routes[name]; ok {
			return name, &rt
		}
	}
	return "", l.Default
}

// Apply sets the Limit of every route of table from l.
func (l *Limits) Apply(table []Route) {
	for i := range table {
		table[i].Limit = l.For(&table[i])
	}
}
