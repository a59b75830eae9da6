// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/route"
)

const problemJSON = "application/problem+json"

// Names of the shared headers in components.headers.
const (
	hdrWWWAuthenticate = "WWW-Authenticate"
	hdrRetryAfter      = "Retry-After"
	hdrRateLimitPolicy = "RateLimit-Policy"
	hdrRateLimit       = "RateLimit"
	hdrLocation        = "Location"
	hdrRequestID       = "X-Request-Id"
)

// header returns a reference to the shared header name, defining it on
// first use so that components hold only what the document uses.
func (g *gen) header(name string) *openapi3.HeaderRef {
	c := g.doc.Components
	if c.Headers == nil {
		c.Headers = openapi3.Headers{}
	}
	h, ok := c.Headers[name]
	if !ok {
		h = &openapi3.HeaderRef{Value: g.newHeader(name)}
		c.Headers[name] = h
	}
	return &openapi3.HeaderRef{Ref: "#/components/headers/" + name, Value: h.Value}
}

func (g *gen) newHeader(name string) *openapi3.Header {
	var desc string
	var s *openapi3.Schema
	switch name {
	case hdrWWWAuthenticate:
		desc = "The authentication schemes the server accepts: " + strings.Join(g.challenges(), ", ") + "."
		s = withExample(str(""), g.challenges()[0])
	case hdrRetryAfter:
		desc = "Seconds to wait before the request may succeed."
		s = withExample(withMin(integer(""), 0), 6)
	case hdrRateLimitPolicy:
		desc = "The route's quota as a structured field (draft-ietf-httpapi-ratelimit-headers): the policy is named by the operation id, q requests per window of w seconds, per caller."
		id, r := g.limitExample()
		s = withExample(str(""), fmt.Sprintf("%q;q=%d;w=%d", id, r.N, int(r.Per.Seconds())))
	case hdrRateLimit:
		desc = "What is left of the quota (draft-ietf-httpapi-ratelimit-headers): r requests remaining, t seconds until the quota is whole again (on a 429, until the next request may pass)."
		id, r := g.limitExample()
		s = withExample(str(""), fmt.Sprintf("%q;r=%d;t=%d", id, r.N-1, max(int(r.Per.Seconds())/r.N, 1)))
	case hdrLocation:
		desc = "The run's URL: /runs/{run_id}."
		s = withExample(str(""), "/runs/"+exampleRunID)
		s.Format = "uri-reference"
	case hdrRequestID:
		desc = "The request's id, as in the problem's request_id and the audit log."
		s = str("")
	default:
		g.fail("unknown header %s", name)
		s = str("")
	}
	return &openapi3.Header{Parameter: openapi3.Parameter{Description: desc, Schema: sref(s)}}
}

// limitExample returns the operation id and the limit shown in the
// examples of the RateLimit headers: the first limited execute route's, else
// the first limited route's, else a default-like 60/minute on
// list_pipelines.
func (g *gen) limitExample() (string, route.Rate) {
	var first *model.Route
	for _, rt := range g.m.Routes {
		if rt.Limit == nil {
			continue
		}
		if rt.IsExecute() {
			return rt.OperationID, *rt.Limit
		}
		if first == nil {
			first = rt
		}
	}
	if first != nil {
		return first.OperationID, *first.Limit
	}
	return route.ListPipelines, route.Rate{N: 60, Per: time.Minute}
}

// challenges are the WWW-Authenticate challenges of the enabled methods.
func (g *gen) challenges() []string {
	var out []string
	for _, a := range g.m.Security.Auth {
		switch a {
		case model.AuthAPIKey:
			out = append(out, fmt.Sprintf("ApiKey header=%q", g.m.Security.APIKeyHeader))
		case model.AuthJWT:
			out = append(out, "Bearer")
		}
	}
	if len(out) == 0 {
		out = []string{"Bearer"}
	}
	return out
}

// errorResponse describes one error status shared by several operations.
type errorResponse struct {
	name    string // in components.responses
	status  int
	desc    string
	detail  string // of the example
	headers []string
}

var errorResponses = map[int]errorResponse{
	400: {"BadRequest", 400, "The request is malformed: its body, a query parameter or a header.", "the request body is not valid JSON", nil},
	401: {"Unauthorized", 401, "No credentials (`Not authenticated`), or credentials that are not valid.", "Not authenticated", []string{hdrWWWAuthenticate}},
	403: {"Forbidden", 403, "The caller is authenticated but not allowed to do this, or the request came over plain HTTP when HTTPS is required.", "the caller may not do this", nil},
	404: {"NotFound", 404, "No such pipeline, run or dead letter, or one the caller may not read.", "no such run", nil},
	409: {"Conflict", 409, "The run's status does not allow this: a cancel of a run that has finished, a re-run of one that has not, a requeue of a dead letter whose run is not failed.", "the run has already finished", nil},
	413: {"PayloadTooLarge", 413, "The request body is over the limit (1 MiB by default).", "the request body is over 1048576 bytes", nil},
	422: {"UnprocessableEntity", 422, "A well-typed value of the body breaks a constraint of the spec; `errors` names every offending field.", "the request body does not satisfy the pipeline's input types", nil},
	429: {"TooManyRequests", 429, "Rate limited: the caller has used the route's quota.", "rate limit exceeded; retry in 6s", []string{hdrRetryAfter, hdrRateLimitPolicy, hdrRateLimit}},
	500: {"InternalServerError", 500, "A bug in the server; it was logged and the server keeps serving.", "internal error", nil},
	503: {"ServiceUnavailable", 503, "The server is shutting down, or cannot write its audit log, or (to a request without verified credentials) its audit log's disk is low.", "the server is shutting down", nil},
}

// errorResponse returns a reference to the shared response of an error
// status, defining it on first use.
func (g *gen) errorResponse(status int) *openapi3.ResponseRef {
	e, ok := errorResponses[status]
	if !ok {
		g.fail("no shared response for status %d", status)
		e = errorResponses[http.StatusInternalServerError]
	}
	c := g.doc.Components
	if c.Responses == nil {
		c.Responses = openapi3.ResponseBodies{}
	}
	r, ok := c.Responses[e.name]
	if !ok {
		ex := map[string]any{
			"type":       "about:blank",
			"title":      http.StatusText(status),
			"status":     status,
			"detail":     e.detail,
			"request_id": "req_01JDQ4Z6X8",
		}
		if status == 422 {
			ex["errors"] = []any{map[string]any{"path": "result.status", "message": "must be one of [ok failed]"}}
		}
		mt := &openapi3.MediaType{Schema: g.ref(g.problem), Example: ex}
		resp := openapi3.NewResponse().WithDescription(e.desc)
		resp.Content = openapi3.Content{problemJSON: mt}
		resp.Headers = openapi3.Headers{hdrRequestID: g.header(hdrRequestID)}
		for _, h := range e.headers {
			resp.Headers[h] = g.header(h)
		}
		r = &openapi3.ResponseRef{Value: resp}
		c.Responses[e.name] = r
	}
	return &openapi3.ResponseRef{Ref: "#/components/responses/" + e.name, Value: r.Value}
}

// parameter returns a reference to a shared path parameter, defining it on
// first use.
func (g *gen) parameter(name string) *openapi3.ParameterRef {
	c := g.doc.Components
	if c.Parameters == nil {
		c.Parameters = openapi3.ParametersMap{}
	}
	key := map[string]string{"pipeline_id": "PipelineID", "run_id": "RunID", "file": "ConsoleFile", "dead_letter_id": "DeadLetterID"}[name]
	if key == "" {
		g.fail("unknown path parameter %s", name)
		key = name
	}
	p, ok := c.Parameters[key]
	if !ok {
		var v *openapi3.Parameter
		switch name {
		case "pipeline_id":
			v = openapi3.NewPathParameter(name).WithSchema(withEnum(str(""), g.pipelineIDs()...))
			v.Description = "The pipeline's id (its name in the spec)."
			if ids := g.pipelineIDs(); len(ids) > 0 {
				v.Example = ids[0]
			}
		case "run_id":
			v = openapi3.NewPathParameter(name).WithSchema(str(""))
			v.Description = "The run's id, as execute answered it."
			v.Example = exampleRunID
		case "dead_letter_id":
			v = openapi3.NewPathParameter(name).WithSchema(str(""))
			v.Description = "The dead letter's id, as GET /dead-letters lists it."
			v.Example = "cl8wMUpEUTRaNlg4TjVLMk0zUDRRNVI2UzdUOC9iLy0x"
		case "file":
			file := str("")
			file.Pattern = "^[a-z0-9][a-z0-9._-]*$"
			v = openapi3.NewPathParameter(name).WithSchema(file)
			v.Description = "The name of a file of the console."
			v.Example = "console.js"
		}
		p = &openapi3.ParameterRef{Value: v}
		c.Parameters[key] = p
	}
	return &openapi3.ParameterRef{Ref: "#/components/parameters/" + key, Value: p.Value}
}

// pipelineIDs are the ids of the spec's pipelines, in spec order.
func (g *gen) pipelineIDs() []any {
	var out []any
	for _, p := range g.m.Pipelines {
		out = append(out, p.Name)
	}
	return out
}

// secured reports whether the server authenticates callers.
func (g *gen) secured() bool { return g.m.Security != nil && g.m.Security.Enabled }

// Names of the security schemes.
const (
	schemeAPIKey = "ApiKeyAuth"
	schemeBearer = "BearerAuth"
)

// security defines a scheme per enabled authentication method and requires
// any one of them on every operation (health opts out).
func (g *gen) security() {
	if !g.secured() {
		return
	}
	sec := g.m.Security
	schemes := openapi3.SecuritySchemes{}
	for _, a := range sec.Auth {
		var name string
		var s *openapi3.SecurityScheme
		switch a {
		case model.AuthAPIKey:
			name = schemeAPIKey
			s = &openapi3.SecurityScheme{Type: "apiKey", In: "header", Name: sec.APIKeyHeader,
				Description: "An API key issued for this service, sent in the " + sec.APIKeyHeader + " header. What a key may do depends on its role and pipeline patterns."}
		case model.AuthJWT:
			name = schemeBearer
			s = &openapi3.SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT", Description: jwtDescription(sec.JWT)}
		default:
			continue
		}
		schemes[name] = &openapi3.SecuritySchemeRef{Value: s}
		g.doc.Security = append(g.doc.Security, openapi3.SecurityRequirement{name: []string{}})
	}
	if len(schemes) > 0 {
		g.doc.Components.SecuritySchemes = schemes
	}
}

func jwtDescription(j *model.JWT) string {
	var b strings.Builder
	b.WriteString("A JSON Web Token in the Authorization header (`Bearer <token>`)")
	if j == nil {
		b.WriteString(".")
		return b.String()
	}
	if len(j.Algorithms) > 0 {
		fmt.Fprintf(&b, ", signed with %s", strings.Join(j.Algorithms, " or "))
	}
	if len(j.Issuers) > 0 {
		fmt.Fprintf(&b, ", issued by %s", strings.Join(j.Issuers, " or "))
	}
	if len(j.Audiences) > 0 {
		fmt.Fprintf(&b, " for the audience %s", strings.Join(j.Audiences, " or "))
	}
	b.WriteString(".")
	if j.RoleClaim != "" {
		fmt.Fprintf(&b, " The `%s` claim holds the caller's role (or roles)", j.RoleClaim)
		if j.PipelinesClaim != "" {
			fmt.Fprintf(&b, " and the `%s` claim the pipeline patterns it may reach", j.PipelinesClaim)
		}
		b.WriteString(".")
	}
	return b.String()
}
