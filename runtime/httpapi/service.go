// Package httpapi serves the HTTP API of a generated taskwire service
// (CONTRACT.md section 4): pipelines, runs, events, the OpenAPI document and
// its documentation page, behind one middleware chain that authenticates,
// rate-limits, authorises and audits every request.
//
// Generated code describes the service as data (a Service) and calls New;
// everything the server does is here, in one tested place.
package httpapi

import (
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/graph"
	"github.com/taskwire/taskwire/runtime/schema"
)

// Service describes a generated service to the HTTP layer.
type Service struct {
	Title     string
	Version   string
	Pipelines []Pipeline
	// Routes is the whole route table, as the spec's model derived it: the
	// server binds each route to its handler by operation id (execute
	// routes by RouteKey "execute") and refuses unknown ones.
	Routes   []Route
	Security Security
	// OpenAPI is the service's OpenAPI document (JSON), served at /openapi.json.
	OpenAPI []byte
}

// Pipeline describes one pipeline for GET /pipelines/{id} and execute.
type Pipeline struct {
	ID          string
	Description string
	Inputs      []Field
	Outputs     []Field
	Tasks       []Task // in topological order
	Timeout     time.Duration
	RateLimit   string // as written in the spec, for display; "" when unlimited
	// Input is the schema of the execute request body.
	Input *schema.Schema
	// Graph is the pipeline's task graph, served at /pipelines/{id}/graph.
	Graph *graph.Graph
}

// Field is a named, typed value of a pipeline's inputs or outputs.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

// Task describes one task of a pipeline.
type Task struct {
	Name   string   `json:"name"`
	Inputs []string `json:"inputs"`
	Output string   `json:"output"`
	Type   string   `json:"type"`
	Map    string   `json:"map,omitempty"`
}

// Action is what a request does to a pipeline.
type Action string

// The actions ACLs grant.
const (
	ActionRead    Action = "read"
	ActionExecute Action = "execute"
	ActionWrite   Action = "write"
)

// Route is one HTTP route.
type Route struct {
	Method      string
	Path        string // net/http pattern syntax: /runs/{run_id}
	OperationID string
	RouteKey    string // the rate-limit family: the operation id, or "execute"
	Action      Action // the pipeline action needed; "" when not about one pipeline
	Pipeline    string // execute routes: the pipeline
	Public      bool   // served without authentication
	RateLimit   *Rate  // nil: unlimited
}

// Rate is N requests per Per, refilled evenly.
type Rate struct {
	N   int
	Per time.Duration
}

// Security is the service's security policy.
type Security struct {
	// Enabled false serves every route without authentication, limits or audit.
	Enabled      bool
	APIKey       bool   // accept API keys
	JWT          bool   // accept bearer tokens
	APIKeyHeader string // header carrying API keys
	Keys         []Key
	JWTConfig    *JWT
	ACLs         []ACL
	RequireHTTPS bool
	// TrustedProxies are CIDRs whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string
	Audit          Audit
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
	Algorithm      string
	SecretEnv      string
	PublicKeyFile  string
	Issuer         string
	Audience       string
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
}
