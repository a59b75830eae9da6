// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"slices"

	"github.com/taskwire/taskwire/runtime/pattern"
)

// Principal is who made a request: an API key (by its id) or a JWT subject.
type Principal struct {
	// ID is the key id or the token's subject; it is what logs and the audit
	// log show, never the credential itself.
	ID string
	// Method is "api_key", "jwt", or "" when security is disabled.
	Method string
	// Roles are the key's role or the token's roles.
	Roles []string
	// Pipelines are the patterns of the pipelines the principal may reach.
	Pipelines []string
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
		return true
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
		}
		for _, role := range p.Roles {
			if slices.Contains(roles, role) {
				return true
			}
		}
	}
	return false
}
