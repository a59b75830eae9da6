// SPDX-License-Identifier: Apache-2.0

package model

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/spec"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/pattern"
	"github.com/taskwire/taskwire/runtime/route"
)

// Security defaults and bounds.
const (
	DefaultAPIKeyHeader   = "X-API-Key"
	DefaultRoleClaim      = "role"
	DefaultPipelinesClaim = "pipelines"
	MaxLeeway             = 5 * time.Minute
	DefaultAuditFile      = "audit.jsonl"
	DefaultAuditMaxSize   = 100 << 20
	// AuditMinFreeOff is Audit.MinFree when the spec turns low-disk
	// shedding off (min_free: 0).
	AuditMinFreeOff = -1
)

// JWTAlgorithms are the signing algorithms a spec may pin.
var JWTAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"}

var (
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	sizeRE       = regexp.MustCompile(`^([0-9]+)(B|KB|MB|GB|KiB|MiB|GiB)$`)
	sizeUnits    = map[string]int64{"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
)

func (r *resolver) rate(s spec.Str, what string) *Rate {
	if !s.Set {
		return nil
	}
	rt, err := route.ParseRate(s.Value)
	if err != nil {
		r.diags.Errorf(s.Pos, "%s: %v", what, err)
		return nil
	}
	return &Rate{Rate: rt, Pos: s.Pos}
}

func (r *resolver) security() {
	ss := r.spec.Security
	sec := &Security{APIKeyHeader: DefaultAPIKeyHeader}
	r.m.Security = sec
	if ss == nil {
		r.diags.Warnf(r.spec.Pos, "no `security` section: the generated server will serve every route without authentication; add one, or write `security: {enabled: false}` to make that choice explicit")
		return
	}
	sec.Enabled = !ss.Enabled.Set || ss.Enabled.Value
	sec.RequireHTTPS = ss.RequireHTTPS.Value
	sec.Pos, sec.AuthPos, sec.ACLsPos = ss.Pos, ss.AuthPos, ss.ACLsPos

	if ss.APIKey != nil {
		sec.APIKeyPos = ss.APIKey.Pos
	}
	if ss.APIKey != nil && ss.APIKey.Header.Set {
		h := ss.APIKey.Header
		sec.APIKeyPos = h.Pos
		switch {
		case !headerNameRE.MatchString(h.Value):
			r.diags.Errorf(h.Pos, "api_key.header %q is not a valid HTTP header name", h.Value)
		case strings.EqualFold(h.Value, "Authorization") || strings.EqualFold(h.Value, "Cookie"):
			r.diags.Errorf(h.Pos, "api_key.header cannot be %q; choose a dedicated header such as X-API-Key", h.Value)
		default:
			sec.APIKeyHeader = h.Value
		}
	}

	r.keys(sec, ss)
	r.keysFile(sec, ss)
	r.jwt(sec, ss)
	r.auth(sec, ss)
	r.acls(sec, ss)
	r.roles(sec)
	r.trustedProxies(sec, ss)
	r.rateLimits(sec, ss)
	r.audit(sec, ss)
	r.metrics(sec, ss)
}

// metrics resolves security.metrics: who may read GET /metrics, and the
// optional second listener without authentication.
func (r *resolver) metrics(sec *Security, ss *spec.Security) {
	ms := ss.Metrics
	if ms == nil {
		return
	}
	m := &Metrics{Pos: ms.Pos}
	keyRoles := map[string]bool{}
	for _, k := range sec.Keys {
		keyRoles[k.Role] = true
	}
	seen := map[string]bool{}
	for _, role := range ms.Roles {
		switch {
		case seen[role.Value]:
			r.diags.Errorf(role.Pos, "security.metrics.roles names role %q twice", role.Value)
		case !keyRoles[role.Value] && sec.JWT == nil:
			r.diags.Errorf(role.Pos, "security.metrics.roles names role %q, which no key has (and no JWT config could grant it)%s", role.Value, diag.DidYouMean(role.Value, sortedKeys(keyRoles)))
		default:
			m.Roles = append(m.Roles, role.Value)
		}
		seen[role.Value] = true
	}
	if sec.Enabled && len(ms.Roles) == 0 {
		r.diags.Warnf(ms.Pos, "security.metrics names no roles, so no caller may read GET /metrics; add `roles: [admin]` (or a listen address for a private scraper)")
	}
	if l := ms.Listen; l.Set {
		host, port, err := net.SplitHostPort(l.Value)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || n < 1 || n > 65535:
			r.diags.Errorf(l.Pos, "security.metrics.listen %q is not host:port; write for example 127.0.0.1:9464 (or :9464 for loopback)", l.Value)
		default:
			m.Listen = l.Value
			if host != "" && host != "localhost" {
				if a, err := netip.ParseAddr(host); err != nil || !a.IsLoopback() {
					r.diags.Warnf(l.Pos, "security.metrics.listen %q serves the metrics without authentication beyond this host; keep it on a private network, or leave the host out for loopback", l.Value)
				}
			}
		}
	}
	sec.Metrics = m
}

func (r *resolver) keys(sec *Security, ss *spec.Security) {
	for _, ks := range ss.Keys {
		if !r.checkSnake(ks.Name, "key") {
			continue
		}
		k := &Key{ID: ks.Name.Value, Role: ks.Role.Value, Description: ks.Description.Value, Pos: ks.Name.Pos}
		what := fmt.Sprintf("key %q", k.ID)
		if ks.Literal.Set {
			r.diags.Errorf(ks.Literal.Pos, "%s: a key must never be written in the spec; put it in an environment variable (`env: TASKWIRE_KEY_%s`) or write its hash (`sha256: ...`, see `taskwire keygen`)", what, strings.ToUpper(k.ID))
			continue
		}
		switch {
		case !ks.Env.Missing() && !ks.SHA256.Missing():
			r.diags.Errorf(ks.SHA256.Pos, "%s has both `env` and `sha256`; give exactly one", what)
		case !ks.Env.Set && !ks.SHA256.Set:
			if ks.Env.Missing() && ks.SHA256.Missing() {
				r.diags.Errorf(ks.Pos, "%s needs exactly one of `env` (the variable holding the key) or `sha256` (the key's hash)", what)
			}
		case ks.Env.Set:
			if envRE.MatchString(ks.Env.Value) {
				k.Env = ks.Env.Value
			} else {
				r.diags.Errorf(ks.Env.Pos, "%s env %q is not an environment variable name (capital letters, digits and _)", what, ks.Env.Value)
			}
		case ks.SHA256.Set:
			if sha256RE.MatchString(ks.SHA256.Value) {
				k.SHA256 = strings.ToLower(ks.SHA256.Value)
			} else {
				r.diags.Errorf(ks.SHA256.Pos, "%s sha256 must be 64 hexadecimal digits (the SHA-256 of the key, as `taskwire keygen` prints it)", what)
			}
		}
		if ks.Role.Missing() || (ks.Role.Set && ks.Role.Value == "") {
			r.diags.Errorf(ks.Pos, "%s has no `role`", what)
		} else if ks.Role.Set && !snakeRE.MatchString(ks.Role.Value) {
			r.diags.Errorf(ks.Role.Pos, "%s role %q is not a snake_case name", what, ks.Role.Value)
		}
		if !ks.PipelinesOK {
			r.diags.Warnf(ks.Pos, "%s lists no `pipelines`, so it reaches no pipeline; add `pipelines: [\"*\"]` for all of them", what)
		}
		k.Pipelines = r.patterns(ks.Pipelines, what+" pipelines")
		if ks.Expires.Set {
			k.Expires = r.expires(ks.Expires, what)
		}
		sec.Keys = append(sec.Keys, k)
	}
}

func (r *resolver) keysFile(sec *Security, ss *spec.Security) {
	kf := ss.KeysFile
	if !kf.Set {
		return
	}
	sec.KeysFilePos = kf.Pos
	if strings.TrimSpace(kf.Value) == "" || strings.ContainsRune(kf.Value, 0) {
		r.diags.Errorf(kf.Pos, "security.keys_file must be a file path (the keys file the server reads, see `taskwire keygen --append`)")
		return
	}
	sec.KeysFile = kf.Value
}

// patterns checks pipeline patterns and warns about those matching no pipeline.
func (r *resolver) patterns(ps []spec.Str, what string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if err := pattern.Valid(p.Value); err != nil {
			r.diags.Errorf(p.Pos, "%s: pattern %q: %v", what, p.Value, strings.TrimPrefix(err.Error(), pattern.ErrInvalid.Error()+": "))
			continue
		}
		r.warnUnmatched(p, what)
		out = append(out, p.Value)
	}
	return out
}

func (r *resolver) warnUnmatched(p spec.Str, what string) {
	for _, pl := range r.m.Pipelines {
		if pattern.Match(p.Value, pl.Name) {
			return
		}
	}
	r.diags.Warnf(p.Pos, "%s: pattern %q matches no pipeline of this spec", what, p.Value)
}

func (r *resolver) expires(s spec.Str, what string) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s.Value); err == nil {
			return t.UTC()
		}
	}
	r.diags.Errorf(s.Pos, "%s expires %q is not a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)", what, s.Value)
	return time.Time{}
}

func (r *resolver) jwt(sec *Security, ss *spec.Security) {
	js := ss.JWT
	if js == nil {
		return
	}
	j := &JWT{Pos: js.Pos, RoleClaim: DefaultRoleClaim, PipelinesClaim: DefaultPipelinesClaim}
	if js.RoleClaim.Set {
		j.RoleClaim = js.RoleClaim.Value
	}
	if js.PipelinesClaim.Set {
		j.PipelinesClaim = js.PipelinesClaim.Value
	}
	remote := js.JWKSURL.Set || js.Discovery.Value
	algs, algsOK := r.jwtAlgorithms(js, remote)
	j.Algorithms = algs
	r.jwtKeySource(js, j, algs, algsOK)
	j.Issuers = r.jwtStrings(js.Issuers, "issuer")
	j.Audiences = r.jwtStrings(js.Audiences, "audience")
	if js.Discovery.Value {
		pos := js.IssuerPos
		if pos.Line == 0 {
			pos = js.Discovery.Pos
		}
		if len(j.Issuers) == 0 {
			r.diags.Errorf(pos, "jwt discovery reads {issuer}/.well-known/openid-configuration, so it needs `issuer`: the identity provider's issuer URL (for example https://idp.example.com/realms/main)")
		}
		for i, iss := range j.Issuers {
			if err := fetchURL(iss); err != nil {
				r.diags.Errorf(js.Issuers[i].Pos, "jwt issuer %q: discovery fetches /.well-known/openid-configuration from it, so it must be an https URL (http only on localhost)", iss)
			}
		}
	}
	if js.Leeway.Set {
		d, err := time.ParseDuration(js.Leeway.Value)
		switch {
		case err != nil:
			r.diags.Errorf(js.Leeway.Pos, "jwt leeway %q is not a duration; write a Go duration such as 30s", js.Leeway.Value)
		case d < 0 || d > MaxLeeway:
			r.diags.Errorf(js.Leeway.Pos, "jwt leeway must be between 0s and %s, not %s", MaxLeeway, js.Leeway.Value)
		default:
			j.Leeway = d
		}
	}
	for _, c := range []spec.Str{js.RoleClaim, js.PipelinesClaim} {
		if c.Set && c.Value == "" {
			r.diags.Errorf(c.Pos, "jwt claim names cannot be empty")
		}
	}
	sec.JWT = j
}

// jwtAlgorithms resolves `algorithm` or `algorithms`: HS256 by default, or
// RS256 for an identity provider's keys (remote). ok is false when one was
// invalid.
func (r *resolver) jwtAlgorithms(js *spec.JWT, remote bool) (algs []string, ok bool) {
	var given []spec.Str
	switch {
	case js.Algorithm.Set && js.AlgorithmsPos.Line > 0:
		r.diags.Errorf(js.AlgorithmsPos, "security.jwt has both `algorithm` and `algorithms`; give one (`algorithms` lists several)")
		return nil, false
	case js.Algorithm.Set:
		given = []spec.Str{js.Algorithm}
	case js.AlgorithmsPos.Line > 0:
		given = js.Algorithms
		if len(given) == 0 {
			r.diags.Errorf(js.AlgorithmsPos, "jwt algorithms is empty; list the algorithms tokens may be signed with, such as [RS256]")
			return nil, false
		}
	case remote:
		return []string{"RS256"}, true
	default:
		return []string{"HS256"}, true
	}
	ok = true
	for _, a := range given {
		alg := a.Value
		switch {
		case strings.EqualFold(alg, "none"):
			r.diags.Errorf(a.Pos, "jwt algorithm %q would accept unsigned tokens; choose one of %s", alg, strings.Join(JWTAlgorithms, ", "))
			ok = false
		case !slices.Contains(JWTAlgorithms, alg):
			r.diags.Errorf(a.Pos, "jwt algorithm %q is not supported; choose one of %s%s", alg, strings.Join(JWTAlgorithms, ", "), diag.DidYouMean(alg, JWTAlgorithms))
			ok = false
		case slices.Contains(algs, alg):
			r.diags.Errorf(a.Pos, "jwt algorithm %s is listed twice", alg)
		default:
			algs = append(algs, alg)
		}
	}
	if !ok || len(algs) == 0 {
		return algs, false
	}
	hmac := strings.HasPrefix(algs[0], "HS")
	for i, alg := range algs {
		if strings.HasPrefix(alg, "HS") != hmac {
			r.diags.Errorf(given[i].Pos, "jwt algorithms mix HMAC (%s) and public-key (%s) algorithms; a configuration verifies with a shared secret or with public keys, not both", firstHMAC(algs), firstPublic(algs))
			return algs, false
		}
	}
	return algs, true
}

func firstHMAC(algs []string) string {
	for _, a := range algs {
		if strings.HasPrefix(a, "HS") {
			return a
		}
	}
	return ""
}

func firstPublic(algs []string) string {
	for _, a := range algs {
		if !strings.HasPrefix(a, "HS") {
			return a
		}
	}
	return ""
}

// jwtKeySource checks that exactly one of secret_env, public_key_file,
// jwks_url and discovery says where the keys come from, and that it fits
// the algorithms.
func (r *resolver) jwtKeySource(js *spec.JWT, j *JWT, algs []string, algsOK bool) {
	type source struct {
		name string
		pos  diag.Pos
	}
	var given []source
	for _, s := range []struct {
		name string
		set  bool
		pos  diag.Pos
	}{
		{"secret_env", !js.SecretEnv.Missing(), js.SecretEnv.Pos},
		{"public_key_file", !js.PublicKeyFile.Missing(), js.PublicKeyFile.Pos},
		{"jwks_url", !js.JWKSURL.Missing(), js.JWKSURL.Pos},
		{"discovery", js.Discovery.Value, js.Discovery.Pos},
	} {
		if s.set {
			given = append(given, source{s.name, s.pos})
		}
	}
	if len(given) > 1 {
		r.diags.Errorf(given[1].pos, "security.jwt has both `%s` and `%s`; give exactly one of secret_env, public_key_file, jwks_url and discovery", given[0].name, given[1].name)
		return
	}
	if !js.PreviousSecretEnv.Missing() {
		switch {
		case js.SecretEnv.Missing():
			r.diags.Errorf(js.PreviousSecretEnv.Pos, "jwt previous_secret_env holds the HMAC secret that secret_env replaced, so it needs `secret_env`")
		case !envRE.MatchString(js.PreviousSecretEnv.Value):
			r.diags.Errorf(js.PreviousSecretEnv.Pos, "jwt previous_secret_env %q is not an environment variable name (capital letters, digits and _)", js.PreviousSecretEnv.Value)
		case js.PreviousSecretEnv.Value == js.SecretEnv.Value:
			r.diags.Errorf(js.PreviousSecretEnv.Pos, "jwt previous_secret_env must be another variable than secret_env (%s)", js.SecretEnv.Value)
		default:
			j.PreviousSecretEnv = js.PreviousSecretEnv.Value
		}
	}
	if !algsOK {
		return // which key material fits is unknowable until the algorithms are fixed
	}
	alg := algs[0]
	hmac := strings.HasPrefix(alg, "HS")
	src := ""
	if len(given) == 1 {
		src = given[0].name
	}
	switch {
	case hmac && src == "secret_env":
		if !js.SecretEnv.Set {
			return // present but not a string: already reported
		}
		if envRE.MatchString(js.SecretEnv.Value) {
			j.SecretEnv = js.SecretEnv.Value
		} else {
			r.diags.Errorf(js.SecretEnv.Pos, "jwt secret_env %q is not an environment variable name (capital letters, digits and _)", js.SecretEnv.Value)
		}
	case hmac && src == "":
		r.diags.Errorf(js.Pos, "jwt algorithm %s needs `secret_env`: the environment variable holding the HMAC secret (32 bytes or more)", alg)
	case hmac:
		r.diags.Errorf(given[0].pos, "jwt algorithm %s uses a shared secret (`secret_env`), not `%s`", alg, src)
	case src == "secret_env":
		r.diags.Errorf(js.SecretEnv.Pos, "jwt algorithm %s verifies with a public key (`public_key_file`, `jwks_url` or `discovery`), not `secret_env`", alg)
	case src == "":
		r.diags.Errorf(js.Pos, "jwt algorithm %s needs its public keys: `public_key_file` (a PEM file), `jwks_url` (an identity provider's JWK Set) or `discovery: true` (the issuer's OpenID configuration)", alg)
	case src == "public_key_file":
		if js.PublicKeyFile.Set && js.PublicKeyFile.Value != "" {
			j.PublicKeyFile = js.PublicKeyFile.Value
		} else if js.PublicKeyFile.Set {
			r.diags.Errorf(js.PublicKeyFile.Pos, "jwt public_key_file is empty; give a PEM file with the public key")
		}
	case src == "jwks_url":
		if !js.JWKSURL.Set {
			return
		}
		if err := fetchURL(js.JWKSURL.Value); err != nil {
			r.diags.Errorf(js.JWKSURL.Pos, "jwt jwks_url %q: %v", js.JWKSURL.Value, err)
		} else {
			j.JWKSURL = js.JWKSURL.Value
		}
	case src == "discovery":
		j.Discovery = true
	}
}

// fetchURL checks a URL keys are fetched from: https, or http to the
// loopback interface.
func fetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return errors.New("not an absolute https URL")
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("keys must be fetched over https (http only from localhost)")
		}
	}
	return nil
}

// jwtStrings checks the issuers or audiences.
func (r *resolver) jwtStrings(list []spec.Str, what string) []string {
	var out []string
	for _, s := range list {
		switch {
		case s.Value == "":
			r.diags.Errorf(s.Pos, "jwt %s cannot be empty", what)
		case slices.Contains(out, s.Value):
			r.diags.Errorf(s.Pos, "jwt %s %q is listed twice", what, s.Value)
		default:
			out = append(out, s.Value)
		}
	}
	return out
}

func (r *resolver) auth(sec *Security, ss *spec.Security) {
	if len(ss.Auth) == 0 {
		if ss.AuthPos.Line > 0 {
			r.diags.Errorf(ss.AuthPos, "security.auth is empty; list api_key, jwt or both")
		}
		if len(ss.Keys) > 0 || ss.KeysFile.Set || ss.JWT == nil {
			sec.Auth = append(sec.Auth, AuthAPIKey)
		}
		if ss.JWT != nil {
			sec.Auth = append(sec.Auth, AuthJWT)
		}
	}
	authValid := true
	for _, a := range ss.Auth {
		m := AuthMethod(a.Value)
		switch {
		case m != AuthAPIKey && m != AuthJWT:
			authValid = false
			r.diags.Errorf(a.Pos, "unknown auth method %q; use api_key or jwt%s", a.Value, diag.DidYouMean(a.Value, []string{"api_key", "jwt"}))
		case sec.Has(m):
			r.diags.Errorf(a.Pos, "auth method %q is listed twice", a.Value)
		default:
			sec.Auth = append(sec.Auth, m)
		}
	}
	if !sec.Enabled || !authValid {
		return
	}
	pos := ss.AuthPos
	if pos.Line == 0 {
		pos = ss.Pos
	}
	if sec.Has(AuthAPIKey) && len(ss.Keys) == 0 && !ss.KeysFile.Set {
		r.diags.Errorf(pos, "security uses api_key authentication but `security.keys` defines no key, so no one could authenticate")
	}
	if sec.Has(AuthJWT) && ss.JWT == nil {
		r.diags.Errorf(pos, "security uses jwt authentication but has no `security.jwt` section")
	}
	if !sec.Has(AuthJWT) && ss.JWT != nil {
		r.diags.Warnf(ss.JWT.Pos, "security.jwt is configured but security.auth does not list jwt, so bearer tokens are refused")
	}
	if !sec.Has(AuthAPIKey) && (len(ss.Keys) > 0 || ss.KeysFile.Set) {
		r.diags.Warnf(ss.KeysPos, "security.keys are defined but security.auth does not list api_key, so the keys are refused")
	}
}

func (r *resolver) acls(sec *Security, ss *spec.Security) {
	keyRoles := map[string]bool{}
	for _, k := range sec.Keys {
		keyRoles[k.Role] = true
	}
	for _, as := range ss.ACLs {
		what := fmt.Sprintf("ACL %q", as.Pattern.Value)
		if err := pattern.Valid(as.Pattern.Value); err != nil {
			r.diags.Errorf(as.Pattern.Pos, "%s: %v", what, strings.TrimPrefix(err.Error(), pattern.ErrInvalid.Error()+": "))
			continue
		}
		r.warnUnmatched(as.Pattern, what)
		acl := &ACL{Pattern: as.Pattern.Value, Grants: map[Action][]string{}, Pos: as.Pattern.Pos, GrantPos: map[Action]diag.Pos{}}
		for _, g := range as.Grants {
			action := Action(g.Action.Value)
			acl.GrantPos[action] = g.Action.Pos
			for _, role := range g.Roles {
				if !keyRoles[role.Value] && sec.JWT == nil && sec.KeysFile == "" {
					r.diags.Errorf(role.Pos, "%s grants %s to role %q, which no key has (and no JWT config could grant it)%s", what, action, role.Value, diag.DidYouMean(role.Value, sortedKeys(keyRoles)))
					continue
				}
				acl.Grants[action] = append(acl.Grants[action], role.Value)
			}
		}
		sec.ACLs = append(sec.ACLs, acl)
	}
}

func (r *resolver) roles(sec *Security) {
	set := map[string]bool{}
	for _, k := range sec.Keys {
		if k.Role != "" {
			set[k.Role] = true
		}
	}
	for _, a := range sec.ACLs {
		for _, roles := range a.Grants {
			for _, role := range roles {
				set[role] = true
			}
		}
	}
	sec.Roles = sortedKeys(set)
	sort.Strings(sec.Roles)
}

func (r *resolver) trustedProxies(sec *Security, ss *spec.Security) {
	for _, s := range ss.TrustedProxies {
		if p, err := netip.ParsePrefix(s.Value); err == nil {
			sec.TrustedProxies = append(sec.TrustedProxies, p.Masked())
			r.wideProxyRange(s, p)
			continue
		}
		if a, err := netip.ParseAddr(s.Value); err == nil {
			sec.TrustedProxies = append(sec.TrustedProxies, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		r.diags.Errorf(s.Pos, "trusted proxy %q is not an IP address or CIDR (for example 10.0.0.5 or 10.0.0.0/24)", s.Value)
	}
}

// Narrowest prefixes of a trusted proxy range that draw no warning: an
// IPv4 /24 (256 addresses) and an IPv6 /64 (one subnet), the usual size of
// the subnet a load-balancer tier gets of its own. A wider range almost
// always holds hosts other than the proxies (a whole VPC, site or
// private address space).
const (
	minProxyBits4 = 24
	minProxyBits6 = 64
)

// wideProxyRange warns of a trusted proxy range wider than
// minProxyBits4/minProxyBits6: every host in it is believed about the
// client's address.
func (r *resolver) wideProxyRange(s spec.Str, p netip.Prefix) {
	bits, min, total := p.Bits(), minProxyBits6, 128
	if p.Addr().Is4() {
		min, total = minProxyBits4, 32
	} else if p.Addr().Is4In6() && bits >= 96 {
		bits, min, total = bits-96, minProxyBits4, 32
	}
	if bits >= min {
		return
	}
	size := fmt.Sprintf("2^%d addresses", total-bits)
	if total-bits < 31 {
		size = fmt.Sprintf("%d addresses", 1<<(total-bits))
	}
	r.diags.Warnf(s.Pos, "trusted proxy %q is a range of %s: any host in it can forge the client address in X-Forwarded-For, and so evade per-address rate limits and the failed-authentication lockout and write any address into the audit log; list your proxies' own addresses (or a range no wider than /%d)", s.Value, size, min)
}

func (r *resolver) rateLimits(sec *Security, ss *spec.Security) {
	rl := ss.RateLimits
	sec.RateLimits.Enabled = true
	if rl == nil {
		return
	}
	if rl.Enabled.Set {
		sec.RateLimits.Enabled = rl.Enabled.Value
	}
	sec.RateLimits.Default = r.rate(rl.Default, "security.rate_limits.default")
	sec.RateLimits.Anonymous = r.rate(rl.Anonymous, "security.rate_limits.anonymous")
}

// minFree resolves security.audit.min_free: 0 when it is not written (the
// server's default), AuditMinFreeOff for 0.
func (r *resolver) minFree(s spec.Str) int64 {
	if !s.Set {
		return 0
	}
	if s.Value == "0" {
		return AuditMinFreeOff
	}
	m := sizeRE.FindStringSubmatch(s.Value)
	n, err := int64(0), error(nil)
	if m != nil {
		n, err = strconv.ParseInt(m[1], 10, 64)
	}
	switch {
	case m == nil || err != nil:
		r.diags.Errorf(s.Pos, "security.audit.min_free %q is not a size; write a number with a unit such as 256MiB or 1GB, or 0 to turn low-disk shedding off", s.Value)
	case n == 0:
		return AuditMinFreeOff
	case n > (1<<40)/sizeUnits[m[2]]:
		r.diags.Errorf(s.Pos, "security.audit.min_free must be at most 1TiB, not %s", s.Value)
	default:
		return n * sizeUnits[m[2]]
	}
	return 0
}

func (r *resolver) audit(sec *Security, ss *spec.Security) {
	as := ss.Audit
	if as == nil {
		return
	}
	a := Audit{Enabled: !as.Enabled.Set || as.Enabled.Value, File: DefaultAuditFile, MaxSize: DefaultAuditMaxSize, Sync: audit.Interval, SyncInterval: audit.DefaultSyncInterval, CheckpointInterval: audit.DefaultCheckpointInterval}
	if as.File.Set {
		if strings.TrimSpace(as.File.Value) == "" || strings.ContainsRune(as.File.Value, 0) {
			r.diags.Errorf(as.File.Pos, "security.audit.file must be a file path")
		} else {
			a.File = as.File.Value
		}
	}
	if as.MaxSize.Set {
		m := sizeRE.FindStringSubmatch(as.MaxSize.Value)
		n, err := int64(0), error(nil)
		if m != nil {
			n, err = strconv.ParseInt(m[1], 10, 64)
		}
		switch {
		case m == nil || err != nil:
			r.diags.Errorf(as.MaxSize.Pos, "security.audit.max_size %q is not a size; write a number with a unit such as 64MiB or 100MB", as.MaxSize.Value)
		case n*sizeUnits[m[2]] < 1<<20 || n > (1<<40)/sizeUnits[m[2]]:
			r.diags.Errorf(as.MaxSize.Pos, "security.audit.max_size must be between 1MiB and 1TiB, not %s", as.MaxSize.Value)
		default:
			a.MaxSize = n * sizeUnits[m[2]]
		}
	}
	if as.Sync.Set {
		switch m := audit.SyncMode(as.Sync.Value); m {
		case audit.Interval, audit.Always:
			a.Sync = m
		default:
			modes := []string{string(audit.Interval), string(audit.Always)}
			r.diags.Errorf(as.Sync.Pos, "security.audit.sync must be interval or always, not %q%s", as.Sync.Value, diag.DidYouMean(as.Sync.Value, modes))
		}
	}
	if as.SyncInterval.Set {
		d, err := time.ParseDuration(as.SyncInterval.Value)
		switch {
		case err != nil:
			r.diags.Errorf(as.SyncInterval.Pos, "security.audit.sync_interval %q is not a duration; write a Go duration such as 50ms or 1s", as.SyncInterval.Value)
		case d < audit.MinSyncInterval || d > audit.MaxSyncInterval:
			r.diags.Errorf(as.SyncInterval.Pos, "security.audit.sync_interval must be between %s and %s, not %s", audit.MinSyncInterval, audit.MaxSyncInterval, as.SyncInterval.Value)
		default:
			a.SyncInterval = d
		}
		if a.Sync == audit.Always {
			r.diags.Warnf(as.SyncInterval.Pos, "security.audit.sync_interval has no effect with sync: always, which syncs every record before its response; remove it, or use sync: interval")
		}
	}
	if a.Sync == audit.Always {
		a.SyncInterval = 0
	}
	a.MinFree = r.minFree(as.MinFree)
	r.auditAnchor(&a, as)
	sec.Audit = a
}

// Bounds of security.audit.checkpoint_interval.
const (
	MinCheckpointInterval = time.Second
	MaxCheckpointInterval = 24 * time.Hour
)

// auditAnchor resolves the chain key's variable and the checkpoint interval.
func (r *resolver) auditAnchor(a *Audit, as *spec.Audit) {
	if as.KeyEnv.Set {
		if envRE.MatchString(as.KeyEnv.Value) {
			a.KeyEnv = as.KeyEnv.Value
		} else {
			r.diags.Errorf(as.KeyEnv.Pos, "security.audit.key_env %q is not an environment variable name (capital letters, digits and _), such as TASKWIRE_AUDIT_KEY", as.KeyEnv.Value)
		}
	}
	if as.CheckpointInterval.Set {
		d, err := time.ParseDuration(as.CheckpointInterval.Value)
		switch {
		case err != nil:
			r.diags.Errorf(as.CheckpointInterval.Pos, "security.audit.checkpoint_interval %q is not a duration; write a Go duration such as 1m or 30s", as.CheckpointInterval.Value)
		case d < MinCheckpointInterval || d > MaxCheckpointInterval:
			r.diags.Errorf(as.CheckpointInterval.Pos, "security.audit.checkpoint_interval must be between %s and %s, not %s", MinCheckpointInterval, MaxCheckpointInterval, as.CheckpointInterval.Value)
		default:
			a.CheckpointInterval = d
		}
	}
}
