// SPDX-License-Identifier: Apache-2.0

package diff

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/pattern"
)

var actions = []model.Action{model.ActionRead, model.ActionExecute, model.ActionWrite}

// security compares authentication and access. Access is compared on the
// pipelines both versions have; a removed pipeline is reported as such.
func (d *differ) security() {
	a, b := d.old.Security, d.new.Security
	pos := at(d.new, b.Pos)
	switch {
	case !a.Enabled && b.Enabled:
		d.report(pos, diag.Error, nowhere, "security is now enabled: every route but GET /healthz needs credentials, which existing callers do not send")
		return
	case a.Enabled && !b.Enabled:
		d.report(pos, diag.Info, nowhere, "security is now disabled: every route is served without authentication")
		return
	case !a.Enabled:
		return
	}
	for _, m := range a.Auth {
		if !b.Has(m) {
			d.report(first(d.new, b.AuthPos, b.Pos), diag.Error, nowhere, "auth method %q was removed; callers that authenticate with %s get 401", m, credential(m))
		}
	}
	for _, m := range b.Auth {
		if !a.Has(m) {
			d.report(first(d.new, b.AuthPos, b.Pos), diag.Info, nowhere, "auth method %q was added", m)
		}
	}
	if !a.RequireHTTPS && b.RequireHTTPS {
		d.report(pos, diag.Error, nowhere, "require_https is now on; callers using plain HTTP get 403")
	} else if a.RequireHTTPS && !b.RequireHTTPS {
		d.report(pos, diag.Info, nowhere, "require_https is now off")
	}
	if a.Has(model.AuthAPIKey) && b.Has(model.AuthAPIKey) {
		if a.APIKeyHeader != b.APIKeyHeader {
			d.report(first(d.new, b.APIKeyPos, b.Pos), diag.Error, nowhere, "the API key header changed from %s to %s; callers that send %s get 401", a.APIKeyHeader, b.APIKeyHeader, a.APIKeyHeader)
		}
		d.keys()
	}
	if a.Has(model.AuthJWT) && b.Has(model.AuthJWT) && a.JWT != nil && b.JWT != nil {
		d.jwt(a.JWT, b.JWT)
	}
	d.acls()
}

func credential(m model.AuthMethod) string {
	if m == model.AuthJWT {
		return "bearer tokens"
	}
	return "API keys"
}

// jwt compares what a token must be to be accepted.
func (d *differ) jwt(a, b *model.JWT) {
	pos := at(d.new, b.Pos)
	changed := func(what, x, y, effect string) {
		if x != y {
			d.report(pos, diag.Error, nowhere, "jwt %s changed from %q to %q; %s", what, x, y, effect)
		}
	}
	narrowed := func(what string, x, y []string, effect, oneEffect string) {
		if len(x) == 1 && len(y) == 1 {
			changed(what, x[0], y[0], oneEffect)
			return
		}
		for _, v := range x {
			if !slices.Contains(y, v) {
				d.report(pos, diag.Error, nowhere, "jwt %s %q is no longer accepted; %s", what, v, effect)
			}
		}
		if len(x) == 0 && len(y) > 0 {
			d.report(pos, diag.Error, nowhere, "jwt %s is now checked (%s); tokens without it are refused", what, strings.Join(y, ", "))
		}
		for _, v := range y {
			if len(x) > 0 && !slices.Contains(x, v) {
				d.report(pos, diag.Info, nowhere, "jwt %s %q is accepted too", what, v)
			}
		}
	}
	narrowed("algorithm", a.Algorithms, b.Algorithms, "tokens signed with it are refused", "tokens signed with "+strings.Join(a.Algorithms, "")+" are refused")
	narrowed("issuer", a.Issuers, b.Issuers, "tokens it issued are refused", "tokens from the old issuer are refused")
	narrowed("audience", a.Audiences, b.Audiences, "tokens for it alone are refused", "tokens for the old audience are refused")
	changed("key source", jwtKeySource(a), jwtKeySource(b), "tokens signed with the old keys may be refused")
	changed("role_claim", a.RoleClaim, b.RoleClaim, "tokens that carry their role in the old claim lose it")
	changed("pipelines_claim", a.PipelinesClaim, b.PipelinesClaim, "tokens that carry their pipelines in the old claim reach none")
	if b.Leeway < a.Leeway {
		d.report(pos, diag.Warning, nowhere, "jwt leeway lowered from %s to %s; callers whose clocks are further off get 401", a.Leeway, b.Leeway)
	} else if b.Leeway > a.Leeway {
		d.report(pos, diag.Info, nowhere, "jwt leeway raised from %s to %s", a.Leeway, b.Leeway)
	}
}

// jwtKeySource names where a configuration's verification keys come from.
func jwtKeySource(j *model.JWT) string {
	switch {
	case j.SecretEnv != "":
		return "secret_env " + j.SecretEnv
	case j.PublicKeyFile != "":
		return "public_key_file " + j.PublicKeyFile
	case j.JWKSURL != "":
		return "jwks_url " + j.JWKSURL
	case j.Discovery:
		return "discovery"
	}
	return ""
}

// common returns the pipelines both versions have, in the new spec's order.
func (d *differ) common() []string {
	var out []string
	for _, p := range d.new.Pipelines {
		if d.old.Pipeline(p.Name) != nil {
			out = append(out, p.Name)
		}
	}
	return out
}

func findKey(keys []*model.Key, id string) *model.Key {
	for _, k := range keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// keys compares the API keys.
func (d *differ) keys() {
	for _, ka := range d.old.Security.Keys {
		kb := findKey(d.new.Security.Keys, ka.ID)
		if kb == nil {
			d.report(at(d.old, ka.Pos), diag.Error, nowhere, "key %q was removed; callers using it get 401", ka.ID)
			continue
		}
		d.key(ka, kb)
	}
	for _, kb := range d.new.Security.Keys {
		if findKey(d.old.Security.Keys, kb.ID) == nil {
			d.report(at(d.new, kb.Pos), diag.Info, nowhere, "key %q was added", kb.ID)
		}
	}
}

func (d *differ) key(a, b *model.Key) {
	pos := at(d.new, b.Pos)
	switch {
	case a.SHA256 != "" && b.SHA256 != "" && a.SHA256 != b.SHA256:
		d.report(pos, diag.Error, nowhere, "key %q has a new sha256; callers holding the old key get 401", b.ID)
	case a.Env != b.Env || a.SHA256 != b.SHA256:
		d.report(pos, diag.Warning, nowhere, "key %q is now %s (it was %s); callers get 401 unless that holds the same key", b.ID, keySource(b), keySource(a))
	}
	switch {
	case a.Expires.Equal(b.Expires):
	case !b.Expires.IsZero() && (a.Expires.IsZero() || b.Expires.Before(a.Expires)):
		d.report(pos, diag.Warning, nowhere, "key %q now expires at %s; callers using it get 401 from then on", b.ID, b.Expires.Format(time.RFC3339))
	default:
		d.report(pos, diag.Info, nowhere, "key %q expiry changed from %s to %s", b.ID, expiry(a.Expires), expiry(b.Expires))
	}

	var lost, gained []string
	for _, p := range d.common() {
		was, is := pattern.MatchAny(a.Pipelines, p), pattern.MatchAny(b.Pipelines, p)
		if was && !is {
			lost = append(lost, p)
		} else if is && !was {
			gained = append(gained, p)
		}
	}
	patterns := fmt.Sprintf("its pipelines changed from %s to %s", list(a.Pipelines), list(b.Pipelines))
	if len(lost) > 0 {
		d.report(pos, diag.Error, nowhere, "key %q no longer reaches %s %s: %s", b.ID, plural(len(lost), "pipeline", "pipelines"), quoted(lost), patterns)
	}
	if len(gained) > 0 {
		d.report(pos, diag.Info, nowhere, "key %q now also reaches %s %s: %s", b.ID, plural(len(gained), "pipeline", "pipelines"), quoted(gained), patterns)
	}
	if len(lost) == 0 && len(gained) == 0 && !slices.Equal(a.Pipelines, b.Pipelines) {
		d.report(pos, diag.Info, nowhere, "key %q: %s, which reach the same pipelines", b.ID, patterns)
	}

	if a.Role != b.Role {
		// What the role change alone costs: both roles under the new ACLs,
		// on the pipelines the key still reaches. Changes to the ACLs are
		// reported at the ACLs.
		gone := map[model.Action][]string{}
		for _, p := range d.common() {
			if !pattern.MatchAny(b.Pipelines, p) {
				continue
			}
			for _, act := range actions {
				if granted(d.new, a.Role, p, act) && !granted(d.new, b.Role, p, act) {
					gone[act] = append(gone[act], p)
				}
			}
		}
		if len(gone) > 0 {
			d.report(pos, diag.Error, nowhere, "key %q role changed from %q to %q, so it can no longer %s", b.ID, a.Role, b.Role, actionsOn(gone))
		} else {
			d.report(pos, diag.Info, nowhere, "key %q role changed from %q to %q", b.ID, a.Role, b.Role)
		}
	}
}

func keySource(k *model.Key) string {
	if k.Env != "" {
		return "read from the environment variable " + k.Env
	}
	return "checked against a sha256"
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// granted reports whether m's ACLs let role perform act on pipeline: always
// without ACLs (key patterns alone decide), else when a matching entry grants it.
func granted(m *model.Model, role, pipeline string, act model.Action) bool {
	if len(m.Security.ACLs) == 0 {
		return true
	}
	for _, acl := range m.Security.ACLs {
		if pattern.Match(acl.Pattern, pipeline) && slices.Contains(acl.Grants[act], role) {
			return true
		}
	}
	return false
}

func findACL(acls []*model.ACL, p string) *model.ACL {
	for _, a := range acls {
		if a.Pattern == p {
			return a
		}
	}
	return nil
}

// grantKey is one grant of one ACL entry: an action to a role.
type grantKey struct {
	pattern string
	action  model.Action
	role    string
}

// acls compares what roles may do. A role losing an action on a pipeline is
// reported at the ACL entry that granted it (in the new spec, or in the old
// one when the entry is gone), naming the pipelines.
func (d *differ) acls() {
	a, b := d.old.Security, d.new.Security
	roles := slices.Clone(a.Roles)
	for _, r := range b.Roles {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	slices.Sort(roles)
	common := d.common()
	switch {
	case len(a.ACLs) == 0 && len(b.ACLs) == 0:
		return
	case len(a.ACLs) > 0 && len(b.ACLs) == 0:
		d.report(first(d.old, a.ACLsPos, a.Pos), diag.Info, nowhere, "security.acls was removed: the pipelines of keys and tokens alone decide access")
		return
	case len(a.ACLs) == 0:
		for _, role := range roles {
			gone := map[model.Action][]string{}
			for _, p := range common {
				for _, act := range actions {
					if !granted(d.new, role, p, act) {
						gone[act] = append(gone[act], p)
					}
				}
			}
			if len(gone) > 0 {
				d.report(first(d.new, b.ACLsPos, b.Pos), diag.Error, nowhere, "security.acls is new, so role %q can no longer %s", role, actionsOn(gone))
			}
		}
		return
	}

	lost := map[grantKey][]string{} // pipelines each old grant no longer gives
	var order []grantKey
	for _, role := range roles {
		for _, p := range common {
			for _, act := range actions {
				if !granted(d.old, role, p, act) || granted(d.new, role, p, act) {
					continue
				}
				for _, acl := range a.ACLs {
					if pattern.Match(acl.Pattern, p) && slices.Contains(acl.Grants[act], role) {
						k := grantKey{acl.Pattern, act, role}
						if lost[k] == nil {
							order = append(order, k)
						}
						lost[k] = append(lost[k], p)
					}
				}
			}
		}
	}
	for _, k := range order {
		what := actionsOn(map[model.Action][]string{k.action: lost[k]})
		nb := findACL(b.ACLs, k.pattern)
		switch {
		case nb == nil:
			d.report(at(d.old, findACL(a.ACLs, k.pattern).Pos), diag.Error, nowhere, "ACL %q was removed, so role %q can no longer %s", k.pattern, k.role, what)
		case nb.Grants[k.action] == nil:
			d.report(at(d.new, nb.Pos), diag.Error, nowhere, "ACL %q no longer grants %s, so role %q can no longer %s", k.pattern, k.action, k.role, what)
		default:
			d.report(first(d.new, nb.GrantPos[k.action], nb.Pos), diag.Error, nowhere, "ACL %q no longer grants %s to role %q, so it can no longer %s", k.pattern, k.action, k.role, what)
		}
	}

	// Everything else that changed in the entries grants as much or more.
	for _, na := range a.ACLs {
		nb := findACL(b.ACLs, na.Pattern)
		if nb == nil {
			if !lostAny(lost, na.Pattern) {
				d.report(at(d.old, na.Pos), diag.Info, nowhere, "ACL %q was removed; every role keeps its actions on the remaining pipelines", na.Pattern)
			}
			continue
		}
		for _, act := range actions {
			for _, role := range minus(na.Grants[act], nb.Grants[act]) {
				if lost[grantKey{na.Pattern, act, role}] == nil {
					d.report(first(d.new, nb.GrantPos[act], nb.Pos), diag.Info, nowhere, "ACL %q no longer grants %s to role %q; the role keeps that action on every remaining pipeline", na.Pattern, act, role)
				}
			}
			for _, role := range minus(nb.Grants[act], na.Grants[act]) {
				d.report(first(d.new, nb.GrantPos[act], nb.Pos), diag.Info, nowhere, "ACL %q now also grants %s to role %q", nb.Pattern, act, role)
			}
		}
	}
	for _, nb := range b.ACLs {
		if findACL(a.ACLs, nb.Pattern) == nil {
			d.report(at(d.new, nb.Pos), diag.Info, nowhere, "ACL %q was added", nb.Pattern)
		}
	}
}

// actionsOn writes actions and their pipelines: `execute pipelines "a" and
// "b" or write pipeline "a"`.
func actionsOn(byAction map[model.Action][]string) string {
	var parts []string
	for _, act := range actions {
		if ps := byAction[act]; len(ps) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s %s", act, plural(len(ps), "pipeline", "pipelines"), quoted(ps)))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func lostAny(lost map[grantKey][]string, pattern string) bool {
	for k := range lost {
		if k.pattern == pattern {
			return true
		}
	}
	return false
}
