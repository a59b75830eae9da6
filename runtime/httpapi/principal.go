// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"slices"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/pattern"
)

// Principal is who made a request: an API key (by its id) or a JWT subject.
type Principal struct {
	// ID is the key id or the token's subject; it is what logs and the audit
	// log show, never the credential itself.
	ID string
	// Method is "api_key", "jwt", or "" when security is disabled.
	Method string
	// Issuer is the token's issuer (iss) for a JWT that has one: two
	// identity providers may issue the same subject to different people.
	Issuer string
	// Roles are the key's role or the token's roles.
	Roles []string
	// Pipelines are the patterns of the pipelines the principal may reach.
	Pipelines []string
}

// Owner returns p as the owner of the runs it starts: zero for the
// anonymous principal of a server without security.
func (p *Principal) Owner() runtime.Owner {
	if p == nil || p.ID == "" {
		return runtime.Owner{}
	}
	return runtime.Owner{Method: p.Method, ID: p.ID, Issuer: p.Issuer}
}

// RunOwner is the owner a user route (Server.Handle) gives the runs it
// starts for request r, in runtime.StartOptions.Owner, so that they are
// shown like the runs of the execute routes: to their owner and to the
// roles granted all_runs.
func RunOwner(r *http.Request) runtime.Owner {
	return PrincipalFrom(r).Owner()
}

// anonymous is the principal of every request when security is disabled.
var anonymous = &Principal{Pipelines: []string{"*"}}

// requestInfo is what the middleware chain learns about a request; the audit
// log records it when the request ends. It is also the request's context
// (the parent's, plus itself as a value), and holds what the chain needs per
// request, so that a request costs the chain few allocations.
type requestInfo struct {
	context.Context // the request's context before the chain
	RequestID       string
	Route           *Route
	Principal       *Principal
	AuthMethod      string
	ClientIP        string
	PipelineID      string
	RunID           string
	Status          int
	Outcome         string
	Detail          string // a short reason for denials, never a credential
	Intent          uint64 // the sequence number of the request's intent record

	// anon marks a request that presented no credential the server
	// verified: its audit is a count in its address's summary. shed
	// marks one refused because the audit log's disk is low.
	anon, shed bool

	addr   netip.Addr   // the client address, when ClientIP is not yet set
	policy *routePolicy // the route's rate-limit headers
	// hdr backs the values of the headers every response carries, in
	// place of a slice per header.
	hdr [hdrSlots]string
	aw  auditWriter
	sw  startWriter
}

// Value returns the info for infoKey, and asks the parent context otherwise.
func (i *requestInfo) Value(key any) any {
	if key == (infoKey{}) {
		return i
	}
	return i.Context.Value(key)
}

// clientIP returns the client address as the audit log writes it.
func (i *requestInfo) clientIP() string {
	if i.ClientIP == "" && i.addr.IsValid() {
		i.ClientIP = i.addr.String()
	}
	return i.ClientIP
}

type infoKey struct{}

func infoFrom(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(infoKey{}).(*requestInfo)
	return info
}

func withInfo(r *http.Request, info *requestInfo) *http.Request {
	info.Context = r.Context()
	return r.WithContext(info)
}

// PrincipalFrom returns the authenticated principal of a request served by a
// Server (nil before authentication and on public routes). User routes added
// with Server.Handle use it to know who is calling.
func PrincipalFrom(r *http.Request) *Principal {
	if info := infoFrom(r); info != nil {
		return info.Principal
	}
	return nil
}

// policy decides what principals may do.
type policy struct {
	enabled bool
	acls    []ACL
}

// allowed reports whether p may perform action on pipeline: one of its
// pipeline patterns matches and, when ACLs exist, some ACL matching the
// pipeline grants the action to one of its roles. Grants add up.
func (pol *policy) allowed(p *Principal, action Action, pipeline string) bool {
	if !pol.enabled {
		return true
	}
	if p == nil || !pattern.MatchAny(p.Pipelines, pipeline) {
		return false
	}
	if len(pol.acls) == 0 {
		// The patterns alone decide, except for all_runs: only an ACL
		// grants it, so that runs stay their owners' by default.
		return action != ActionAllRuns
	}
	for i := range pol.acls {
		acl := &pol.acls[i]
		if !pattern.Match(acl.Pattern, pipeline) {
			continue
		}
		var roles []string
		switch action {
		case ActionRead:
			roles = acl.Read
		case ActionExecute:
			roles = acl.Execute
		case ActionWrite:
			roles = acl.Write
		case ActionAllRuns:
			roles = acl.AllRuns
		}
		for _, role := range p.Roles {
			if slices.Contains(roles, role) {
				return true
			}
		}
	}
	return false
}

// seesRun reports whether p may see run, given that it holds the action
// the request needs on run's pipeline: the run is p's own, or has no
// recorded owner (a run of a server without security, of the Go API, or
// stored before owners were kept), or p holds all_runs on its pipeline.
func (pol *policy) seesRun(p *Principal, run *runtime.Run) bool {
	if !pol.enabled || run.Owner.IsZero() || run.Owner == p.Owner() {
		return true
	}
	return pol.allowed(p, ActionAllRuns, run.PipelineID)
}
