// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"slices"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/runtime/route"
)

// routes builds the route table (owned by runtime/route) with each route's
// effective rate limit, and the spec's limits as the server applies them: a
// pipeline's rate_limit, else rate_limits.routes by operation id, else by
// route key, else rate_limits.default.
func (r *resolver) routes() {
	names := make([]string, len(r.m.Pipelines))
	for i, p := range r.m.Pipelines {
		names[i] = p.Name
	}
	table := route.Table(names, r.m.Security != nil && r.m.Security.Metrics != nil)
	for i := range table {
		r.m.Routes = append(r.m.Routes, &table[i])
	}

	sec := r.m.Security
	ss := r.spec.Security
	routes := map[string]*Rate{}
	known := route.Names(table)
	if ss != nil && ss.RateLimits != nil {
		for _, rl := range ss.RateLimits.Routes {
			name := rl.Route.Value
			if !slices.Contains(known, name) {
				r.diags.Errorf(rl.Route.Pos, "rate limit for unknown route %q; routes are named by operation id (list_pipelines, execute_<pipeline>, ...) or by the key %q for every execute route%s", name, route.KeyExecute, diag.DidYouMean(name, known))
				continue
			}
			if rate := r.rate(rl.Rate, fmt.Sprintf("rate limit of route %q", name)); rate != nil {
				routes[name] = rate
			}
		}
	}
	pipelineRates := 0
	for _, ps := range r.spec.Pipelines {
		p := r.m.pipelinesByName[ps.Name.Value]
		if p == nil || !ps.RateLimit.Set {
			continue
		}
		rate := r.rate(ps.RateLimit, fmt.Sprintf("pipeline %q rate_limit", p.Name))
		if rate == nil {
			continue
		}
		if ss == nil {
			r.diags.Warnf(ps.RateLimit.Pos, "pipeline %q sets rate_limit, but without a `security` section no limit applies", p.Name)
			continue
		}
		id := route.ExecuteID(p.Name)
		if _, both := routes[id]; both {
			r.diags.Warnf(ps.RateLimit.Pos, "pipeline %q sets rate_limit and security.rate_limits.routes sets %s; the pipeline's rate_limit applies", p.Name, id)
		}
		routes[id] = rate
		pipelineRates++
	}
	if !sec.Enabled || !sec.RateLimits.Enabled {
		if ss != nil && sec.Enabled && pipelineRates > 0 && ss.RateLimits != nil {
			r.diags.Warnf(ss.RateLimits.Enabled.Pos, "rate limits are disabled, so the pipelines' rate_limit settings do not apply")
		}
		return
	}
	if len(routes) > 0 {
		sec.RateLimits.Routes = routes
	}
	sec.RateLimits.Limits().Apply(table)
	for _, rt := range r.m.Routes {
		if rt.Pipeline != "" {
			r.m.pipelinesByName[rt.Pipeline].RateLimit = r.m.RouteRate(rt)
		}
	}
}
