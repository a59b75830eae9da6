// SPDX-License-Identifier: Apache-2.0

// Package model resolves a parsed spec into the model: the checked,
// fully-derived description of a service that every back end (Go code,
// OpenAPI, graphs) consumes. Back ends never read YAML and never re-derive what
// the resolver decided: wiring, pipeline inputs, topological order, Go names,
// effective rate limits and routes are all here.
package model

import (
	"net/netip"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/route"
)

// FormatVersion is the spec format version this model is resolved from.
const FormatVersion = 1

// Model is a whole resolved service.
type Model struct {
	File      string
	Package   string
	Service   Service
	Types     []*Type // named types, in spec order
	Tasks     []*Task // in spec order
	Pipelines []*Pipeline
	Security  *Security
	Routes    []*Route // every HTTP route, in a fixed order

	typesByName     map[string]*Type
	tasksByName     map[string]*Task
	pipelinesByName map[string]*Pipeline
}

// Type returns the named type called name, or nil.
func (m *Model) Type(name string) *Type { return m.typesByName[name] }

// Task returns the task called name, or nil.
func (m *Model) Task(name string) *Task { return m.tasksByName[name] }

// Pipeline returns the pipeline called name, or nil.
func (m *Model) Pipeline(name string) *Pipeline { return m.pipelinesByName[name] }

// Service describes the API as a whole.
type Service struct {
	Title       string
	Version     string
	Description string
	// Retention is service.retention: the default of every pipeline's.
	Retention Retention
	Pos       diag.Pos // the service key; zero without a service section
}

// Retention bounds the finished runs kept; zero fields keep them.
type Retention struct {
	MaxAge  time.Duration
	MaxRuns int
}

// Type is a named type: an object type with Fields, or a named enum.
type Type struct {
	Name        string
	GoName      string
	Description string
	Fields      []*Field // an object type's fields; none for an enum
	// IsEnum marks a named enum ({type: string, enum: [...]}): a string
	// type with the values Enum, which every use of the name shares (one
	// Go type, one schema).
	IsEnum bool
	Enum   []EnumValue
	Pos    diag.Pos
}

// Field is a named, typed value: a field of a type, a task input, or a
// pipeline input or output.
type Field struct {
	Name        string // as written in the spec; also the JSON name
	GoName      string // exported Go name (struct field)
	GoParam     string // unexported Go name (parameter), never a Go keyword
	Description string
	Type        *TypeRef
	Pos         diag.Pos
}

// Kind is the kind of a type expression.
type Kind int

// The kinds of types a spec can use.
const (
	String Kind = iota
	Int
	Int64
	Float64
	Bool
	Time
	Bytes
	Any
	List  // []Elem
	Map   // map[string]Elem
	Named // a named object type
)

// TypeRef is a resolved type expression with its constraints.
type TypeRef struct {
	Kind     Kind
	Elem     *TypeRef // List and Map
	Named    *Type    // Named
	Optional bool
	// Enum is the named enum a String type refers to (written Priority
	// rather than {type: string, enum: [...]}); nil otherwise. Its values
	// are also in Constraints.Enum, so that a use of a named enum is a
	// string with an enum constraint to everything that validates or
	// documents values.
	Enum *Type
	// EnumGoName is the Go type generated for an enum (for example
	// ResultStatus, or Priority for a named enum), set when
	// Constraints.Enum is not empty.
	EnumGoName  string
	Constraints Constraints
}

// Constraints restrict the values of a type. Only those that fit the kind are set.
type Constraints struct {
	Enum      []EnumValue
	Min, Max  *float64
	MinLength *int
	MaxLength *int
	Pattern   string // RE2 syntax, matched unanchored as in JSON Schema (write ^...$ to match the whole value)
}

// Empty reports whether no constraint is set.
func (c Constraints) Empty() bool {
	return len(c.Enum) == 0 && c.Min == nil && c.Max == nil && c.MinLength == nil && c.MaxLength == nil && c.Pattern == ""
}

// EnumValue is one allowed value of an enum with the Go constant generated for it.
type EnumValue struct {
	Value  string
	GoName string
}

// MaxPositionalInputs is the most inputs a task method takes as positional
// parameters. A task with more takes them as one struct (InputsGoName), so
// that reordering the inputs in the spec cannot silently swap two
// arguments of one type.
const MaxPositionalInputs = 4

// Task is a unit of work the user implements.
type Task struct {
	Name        string
	GoName      string // method name on the generated Tasks interface
	Description string
	Inputs      []*Field
	// InputsGoName is the generated struct holding the inputs of a task
	// with more than MaxPositionalInputs of them (<GoName>Inputs), which
	// its method takes instead of one parameter per input; "" otherwise.
	InputsGoName string
	Output       string   // the dataflow name this task produces
	OutputType   *TypeRef // the type of that output; a list of ElemType for map tasks
	ElemType     *TypeRef // for map tasks: the type one call returns; otherwise OutputType
	Map          string   // for map tasks: the list input fanned out over; "" otherwise
	Concurrency  int      // for map tasks: elements run at once
	Timeout      time.Duration
	Retry        Retry
	Pos          diag.Pos
}

// Input returns the task's input called name, or nil.
func (t *Task) Input(name string) *Field {
	for _, f := range t.Inputs {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Retry is a task's retry policy. Attempts counts the first try.
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Pipeline is a DAG of tasks wired by output names.
type Pipeline struct {
	Name         string
	GoName       string
	InputGoName  string // the generated input struct
	OutputGoName string // the generated output struct
	HandleGoName string // the generated typed run handle
	StartGoName  string // the generated function that starts a run
	RunGoName    string // the generated function that runs it once on a new engine
	Description  string
	Tasks        []*Task // in topological order (ties broken by spec order)
	Edges        []Edge  // in topological order of their targets
	Inputs       []*Field
	Outputs      []*Field
	Timeout      time.Duration
	RateLimit    *Rate // the effective limit of this pipeline's execute route; nil when unlimited
	// Retention is the effective retention: the pipeline's own keys, each
	// falling back to service.retention's.
	Retention Retention
	Pos       diag.Pos
}

// Edge wires one task's output to another task's input.
type Edge struct {
	From  *Task
	To    *Task
	Name  string // the output name, which is also the input name
	IsMap bool   // To fans out over this input
}

// Producer returns the task of p that produces output name, or nil.
func (p *Pipeline) Producer(name string) *Task {
	for _, t := range p.Tasks {
		if t.Output == name {
			return t
		}
	}
	return nil
}

// Rate is a rate limit read from the spec: the limit, and where the spec
// writes it (zero for a rate not read from a spec).
type Rate struct {
	route.Rate
	Pos diag.Pos
}

// AuthMethod is a way a client proves who it is.
type AuthMethod string

// The authentication methods.
const (
	AuthAPIKey AuthMethod = "api_key"
	AuthJWT    AuthMethod = "jwt"
)

// Security is the resolved security policy.
type Security struct {
	Pos            diag.Pos // the security key; zero without a security section
	AuthPos        diag.Pos // security.auth; zero when it is not written
	ACLsPos        diag.Pos // security.acls; zero when it is not written
	Enabled        bool
	Auth           []AuthMethod
	APIKeyHeader   string
	APIKeyPos      diag.Pos // security.api_key.header, else security.api_key; zero when neither is written
	Keys           []*Key
	KeysFile       string   // a keys file whose keys add to Keys at run time
	KeysFilePos    diag.Pos // security.keys_file; zero when it is not written
	JWT            *JWT
	ACLs           []*ACL
	Roles          []string // every role granted by a key or named in an ACL, sorted
	RequireHTTPS   bool
	TrustedProxies []netip.Prefix
	RateLimits     RateLimits
	Audit          Audit
	// Metrics enables GET /metrics; nil leaves metrics off.
	Metrics *Metrics
}

// Metrics is security.metrics: the roles that may read GET /metrics and an
// optional second listener serving them without authentication.
type Metrics struct {
	Roles  []string
	Listen string // host:port; a missing host means loopback
	Pos    diag.Pos
}

// Has reports whether method is enabled.
func (s *Security) Has(method AuthMethod) bool {
	for _, m := range s.Auth {
		if m == method {
			return true
		}
	}
	return false
}

// Key is an API key. The key itself never appears in the model: only the
// environment variable that holds it or its SHA-256.
type Key struct {
	ID          string
	Pos         diag.Pos // the key id
	Env         string
	SHA256      string // lowercase hex
	Role        string
	Pipelines   []string // patterns
	Expires     time.Time
	Description string
}

// JWT is the bearer-token configuration. Exactly one of SecretEnv,
// PublicKeyFile, JWKSURL and Discovery says where the verification keys
// come from.
type JWT struct {
	Pos               diag.Pos // security.jwt
	Algorithms        []string // the allowed signing algorithms, at least one
	SecretEnv         string   // HMAC algorithms
	PreviousSecretEnv string   // HMAC: the secret of a rotation window
	PublicKeyFile     string   // RSA, ECDSA and EdDSA algorithms
	JWKSURL           string   // an identity provider's JWK Set
	Discovery         bool     // the JWK Sets of the issuers' OpenID configurations
	Issuers           []string // allowed iss values; none: not checked
	Audiences         []string // a token's aud must name one; none: not checked
	RoleClaim         string
	PipelinesClaim    string
	Leeway            time.Duration
}

// Action is what a principal does to a pipeline.
type Action = route.Action

// The actions ACLs grant.
const (
	ActionRead    = route.Read
	ActionExecute = route.Execute
	ActionWrite   = route.Write
	ActionAllRuns = route.AllRuns
)

// ACL grants actions on the pipelines matching Pattern to roles.
type ACL struct {
	Pattern  string
	Grants   map[Action][]string
	Pos      diag.Pos            // the pattern
	GrantPos map[Action]diag.Pos // each action's key
}

// RateLimits are the resolved rate-limit settings. Per-route effective limits
// are on each Route.
type RateLimits struct {
	Enabled bool
	Default *Rate
	// Routes limits routes by name: an operation id, or route.KeyExecute
	// for every execute route. Each pipeline's rate_limit is here under its
	// execute route's operation id.
	Routes map[string]*Rate
	// Anonymous is security.rate_limits.anonymous: the limit per client
	// address of the requests that are not authenticated, whether or not
	// Enabled; nil leaves the server's default.
	Anonymous *Rate
}

// Limits returns the limits as the server applies them (nil when limits
// are off).
func (rl *RateLimits) Limits() *route.Limits {
	if !rl.Enabled {
		return nil
	}
	l := &route.Limits{}
	if rl.Default != nil {
		l.Default = &rl.Default.Rate
	}
	for name, r := range rl.Routes {
		if l.Routes == nil {
			l.Routes = map[string]route.Rate{}
		}
		l.Routes[name] = r.Rate
	}
	return l
}

// AnonymousRate returns the limit per client address of the requests that
// are not authenticated: the spec's security.rate_limits.anonymous, else
// route.DefaultAnonymousRate (without a position); nil when security is
// off.
func (m *Model) AnonymousRate() *Rate {
	if !m.Security.Enabled {
		return nil
	}
	if a := m.Security.RateLimits.Anonymous; a != nil {
		return a
	}
	return &Rate{Rate: route.DefaultAnonymousRate}
}

// RouteRate returns the spec's rate that limits r, with where the spec
// writes it, or nil when r is unlimited.
func (m *Model) RouteRate(r *Route) *Rate {
	rl := &m.Security.RateLimits
	if !m.Security.Enabled || r.Limit == nil || r.Public { // a public route's limit is its own, not the spec's
		return nil
	}
	name, _ := rl.Limits().Which(r)
	if name == "" {
		return rl.Default
	}
	return rl.Routes[name]
}

// Audit configures the audit log.
type Audit struct {
	Enabled bool
	File    string
	MaxSize int64 // bytes before rotation
	// Sync is when a record counts as written: audit.Interval (the
	// default) or audit.Always.
	Sync audit.SyncMode
	// SyncInterval is the longest a written record waits for its sync in
	// Interval mode (audit.DefaultSyncInterval unless the spec says); 0
	// with Always.
	SyncInterval time.Duration
	// MinFree is the free space of the audit file system below which
	// anonymous requests are shed: 0 leaves the server's default,
	// AuditMinFreeOff turns shedding off.
	MinFree int64
	// KeyEnv names the environment variable of the chain's HMAC key; empty:
	// the chain is not keyed.
	KeyEnv string
	// CheckpointInterval is how often checkpoints are emitted
	// (audit.DefaultCheckpointInterval unless the spec says).
	CheckpointInterval time.Duration
}

// Route is one HTTP route of the generated server, with its effective
// rate limit (Limit).
type Route = route.Route
