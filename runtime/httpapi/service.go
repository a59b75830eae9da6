// SPDX-License-Identifier: Apache-2.0

// Package httpapi serves the HTTP API of a generated taskwire service
// (CONTRACT.md section 4): pipelines, runs, events, the OpenAPI document and
// its documentation page, behind one middleware chain that authenticates,
// rate-limits, authorises and audits every request.
//
// Generated code describes the service as data (a Service) and hands New
// an engine whose registry holds the pipelines (runtime.Pipeline, the one
// description of each); the routes come from package route. Everything the
// server does is here, in one tested place.
package httpapi

import (
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/route"
)

// Service describes a generated service to the HTTP layer: what the spec
// says beyond its pipelines.
type Service struct {
	Title    string
	Version  string
	Security Security
	// OpenAPI is the service's OpenAPI document (JSON), served at /openapi.json.
	OpenAPI []byte
}

// Action is what a request does to a pipeline.
type Action = route.Action

// The actions ACLs grant.
const (
	ActionRead    = route.Read
	ActionExecute = route.Execute
	ActionWrite   = route.Write
	ActionAllRuns = route.AllRuns
)

// Route is one HTTP route; see package route.
type Route = route.Route

// Rate is N requests per Per, refilled evenly.
type Rate = route.Rate

// Security is the service's security policy.
type Security struct {
	// Enabled false serves every route without authentication, limits or audit.
	Enabled      bool
	APIKey       bool   // accept API keys
	JWT          bool   // accept bearer tokens
	APIKeyHeader string // header carrying API keys
	Keys         []Key
	// KeysFile is a keys file (package keyfile) whose keys add to Keys;
	// an id in both is an error. The server re-reads it, with the
	// environment, when it reloads (Server.Reload).
	KeysFile     string
	JWTConfig    *JWT
	ACLs         []ACL
	RequireHTTPS bool
	// TrustedProxies are CIDRs whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string
	// RateLimits are the spec's rate limits; nil serves every route
	// unlimited.
	RateLimits *route.Limits
	// Anonymous limits, per client address, the requests that are not
	// authenticated (unknown routes, wrong methods, public routes,
	// requests without credentials) before their work and audit;
	// nil means DefaultAnonymousRate. It applies whether or not
	// RateLimits are on.
	Anonymous *Rate
	Audit     Audit
	// Metrics, when set, enables the metrics and says who may read them;
	// nil turns them off (GET /metrics answers 404).
	Metrics *MetricsAccess
}

// MetricsAccess says who may read a service's metrics.
type MetricsAccess struct {
	// Roles may read GET /metrics (when security is enabled).
	Roles []string
	// Listen, when set, is a second address (host:port) serving only the
	// metrics, without authentication; a missing host means loopback
	// (127.0.0.1). Keep it private: scrapers on the same host or network.
	Listen string
}

// Key is an API key: its id (the principal), where the key comes from, and what it may reach.
type Key struct {
	ID        string
	Env       string // environment variable holding the key
	SHA256    string // or the key's SHA-256, hex
	Role      string
	Pipelines []string // patterns
	Expires   time.Time
}

// JWT configures bearer-token verification.
type JWT struct {
	// Algorithm is the signing algorithm tokens must use; Algorithms
	// allows several (the two add up). Tokens signed otherwise, alg none
	// included, are refused. Neither set with JWKSURL or Discovery: RS256.
	Algorithm  string
	Algorithms []string
	// SecretEnv is the variable holding the HMAC secret (HS* algorithms).
	SecretEnv string
	// PreviousSecretEnv, when set, is the variable holding the secret that
	// SecretEnv's replaced: while it holds one, tokens signed with either
	// verify (a rotation window; unset it and reload to end it).
	PreviousSecretEnv string
	// PublicKeyFile is a PEM file with the public key (the other algorithms).
	PublicKeyFile string
	// JWKSURL is where an identity provider publishes its signing keys as
	// a JWK Set (RFC 7517): keys by kid, cached and refreshed (see
	// JWKSOptions). Tokens are refused while no key can be had.
	JWKSURL string
	// Discovery finds the JWK Set of each issuer in its OpenID
	// configuration ({issuer}/.well-known/openid-configuration, jwks_uri).
	Discovery bool
	// Issuer, when set, is the iss tokens must carry; Issuers allows
	// several (the two add up).
	Issuer  string
	Issuers []string
	// Audience, when set, is an aud tokens must carry; with Audiences,
	// a token's aud must name one of them.
	Audience       string
	Audiences      []string
	RoleClaim      string
	PipelinesClaim string
	Leeway         time.Duration
}

// ACL grants actions on the pipelines matching Pattern to roles.
type ACL struct {
	Pattern string
	Read    []string
	Execute []string
	Write   []string
	// AllRuns are the roles that see and act on every run of the
	// pipelines (as their other actions allow), not only their own.
	AllRuns []string
}

// Audit configures the audit log.
type Audit struct {
	Enabled bool
	File    string
	MaxSize int64
	// Sync is when a record counts as written, and so when a response is
	// released: audit.Interval (the default: written to the file, synced
	// at least every SyncInterval) or audit.Always (synced).
	Sync audit.SyncMode
	// SyncInterval bounds the wait of a written record for its sync in
	// Interval mode (audit.DefaultSyncInterval by default).
	SyncInterval time.Duration
	// MinFree is the free space, in bytes, of the audit file's file
	// system below which anonymous requests are shed with 503 (so that
	// authenticated ones can still be recorded): 0 means
	// DefaultAuditMinFree, AuditMinFreeOff turns the shedding off.
	MinFree int64
	// KeyEnv names the environment variable holding the chain key; when
	// set, records carry an HMAC-SHA256 instead of a plain hash, and New
	// fails without a key of audit.MinKeyLen bytes or more.
	KeyEnv string
	// CheckpointInterval is how often the log's last durable record is
	// checkpointed to the server log and the metrics when records were
	// written (audit.DefaultCheckpointInterval by default).
	CheckpointInterval time.Duration
}

// Limits are a service's rate limits; see route.Limits.
type Limits = route.Limits

// The audit sync modes, named here so that generated code needs no other
// package: see audit.SyncMode.
const (
	AuditInterval = audit.Interval
	AuditAlways   = audit.Always
)
