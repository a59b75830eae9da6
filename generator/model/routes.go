package model

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/taskwire/taskwire/generator/diag"
)

// RouteKeyExecute is the rate-limit name shared by every pipeline's execute route.
const RouteKeyExecute = "execute"

// routeTable is the fixed part of the HTTP API (CONTRACT.md section 4); one
// execute route per pipeline is added after list_pipelines' neighbours.
var routeTable = []Route{
	{Method: http.MethodGet, Path: "/pipelines", OperationID: "list_pipelines", Action: ActionRead, Tag: "pipelines", Summary: "List the pipelines the caller may read"},
	{Method: http.MethodGet, Path: "/pipelines/{pipeline_id}", OperationID: "get_pipeline", Action: ActionRead, Tag: "pipelines", Summary: "Describe a pipeline"},
	{Method: http.MethodGet, Path: "/pipelines/{pipeline_id}/graph", OperationID: "get_pipeline_graph", Action: ActionRead, Tag: "pipelines", Summary: "A pipeline's task graph as JSON, Mermaid or DOT"},
	{Method: http.MethodGet, Path: "/runs", OperationID: "list_runs", Action: ActionRead, Tag: "runs", Summary: "List runs the caller may read"},
	{Method: http.MethodGet, Path: "/runs/{run_id}", OperationID: "get_run", Action: ActionRead, Tag: "runs", Summary: "Read a run"},
	{Method: http.MethodPost, Path: "/runs/{run_id}/cancel", OperationID: "cancel_run", Action: ActionWrite, Tag: "runs", Summary: "Cancel a run"},
	{Method: http.MethodGet, Path: "/runs/{run_id}/events", OperationID: "run_events", Action: ActionRead, Tag: "runs", Summary: "Stream a run's events (Server-Sent Events)"},
	{Method: http.MethodGet, Path: "/openapi.json", OperationID: "openapi", Tag: "meta", Summary: "This API's OpenAPI document"},
	{Method: http.MethodGet, Path: "/docs", OperationID: "docs", Tag: "meta", Summary: "API documentation page"},
	{Method: http.MethodGet, Path: "/healthz", OperationID: "health", Public: true, Tag: "meta", Summary: "Liveness check"},
}

// ExecuteOperationID is the operation id of pipeline's execute route.
func ExecuteOperationID(pipeline string) string { return "execute_" + pipeline }

// routes builds the route table with each route's effective rate limit:
// a pipeline's rate_limit, else rate_limits.routes by operation id, else by
// route key, else rate_limits.default.
func (r *resolver) routes() {
	var all []*Route
	for i := range routeTable {
		rt := routeTable[i]
		rt.RouteKey = rt.OperationID
		all = append(all, &rt)
		if rt.OperationID == "get_pipeline_graph" {
			for _, p := range r.m.Pipelines {
				all = append(all, &Route{
					Method: http.MethodPost, Path: "/pipelines/" + p.Name + "/execute",
					OperationID: ExecuteOperationID(p.Name), RouteKey: RouteKeyExecute,
					Action: ActionExecute, Pipeline: p.Name, Tag: "pipelines",
					Summary: fmt.Sprintf("Start a run of %s", p.Name),
				})
			}
		}
	}
	r.m.Routes = all

	sec := r.m.Security
	ss := r.spec.Security
	byName := map[string]*Rate{}
	var names []string
	for _, rt := range all {
		if !rt.Public { // public routes are never limited
			names = append(names, rt.OperationID)
		}
	}
	names = append(names, RouteKeyExecute)
	if ss != nil && ss.RateLimits != nil {
		for _, rl := range ss.RateLimits.Routes {
			name := rl.Route.Value
			if !slices.Contains(names, name) {
				r.diags.Errorf(rl.Route.Pos, "rate limit for unknown route %q; routes are named by operation id (list_pipelines, execute_<pipeline>, ...) or by the key %q for every execute route%s", name, RouteKeyExecute, diag.DidYouMean(name, names))
				continue
			}
			byName[name] = r.rate(rl.Rate, fmt.Sprintf("rate limit of route %q", name))
		}
	}
	pipelineRates := map[string]*Rate{}
	if ss != nil {
		for _, ps := range r.spec.Pipelines {
			if p := r.m.pipelinesByName[ps.Name.Value]; p != nil && ps.RateLimit.Set {
				pipelineRates[p.Name] = r.rate(ps.RateLimit, fmt.Sprintf("pipeline %q rate_limit", p.Name))
				if _, both := byName[ExecuteOperationID(p.Name)]; both {
					r.diags.Warnf(ps.RateLimit.Pos, "pipeline %q sets rate_limit and security.rate_limits.routes sets %s; the pipeline's rate_limit applies", p.Name, ExecuteOperationID(p.Name))
				}
			}
		}
	} else {
		for _, ps := range r.spec.Pipelines {
			if ps.RateLimit.Set && r.rate(ps.RateLimit, fmt.Sprintf("pipeline %q rate_limit", ps.Name.Value)) != nil {
				r.diags.Warnf(ps.RateLimit.Pos, "pipeline %q sets rate_limit, but without a `security` section no limit applies", ps.Name.Value)
			}
		}
	}
	if !sec.Enabled || !sec.RateLimits.Enabled {
		if ss != nil && sec.Enabled && len(pipelineRates) > 0 && ss.RateLimits != nil {
			r.diags.Warnf(ss.RateLimits.Enabled.Pos, "rate limits are disabled, so the pipelines' rate_limit settings do not apply")
		}
		return
	}
	for _, rt := range all {
		if rt.Public {
			continue
		}
		switch {
		case pipelineRates[rt.Pipeline] != nil:
			rt.RateLimit = pipelineRates[rt.Pipeline]
		case byName[rt.OperationID] != nil:
			rt.RateLimit = byName[rt.OperationID]
		case byName[rt.RouteKey] != nil:
			rt.RateLimit = byName[rt.RouteKey]
		default:
			rt.RateLimit = sec.RateLimits.Default
		}
		if rt.Pipeline != "" {
			r.m.pipelinesByName[rt.Pipeline].RateLimit = rt.RateLimit
		}
	}
}
