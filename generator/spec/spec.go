// SPDX-License-Identifier: Apache-2.0

// Package spec parses taskwire spec files (format version 1) into a raw,
// position-carrying tree. It checks the shape of the document (known keys,
// YAML kinds, scalar types); meaning (wiring, names, security rules) is
// checked by package model, which resolves a Spec into the IR.
package spec

import "github.com/taskwire/taskwire/generator/diag"

// Str is a scalar string from the spec with its position. Set is false when
// the key was absent.
type Str struct {
	Value string
	Pos   diag.Pos
	Set   bool
}

// Missing reports whether the key was absent (as opposed to present with an
// invalid value, which the parser has already reported).
func (s Str) Missing() bool { return !s.Set && s.Pos.Line == 0 }

// Int is an integer scalar with its position.
type Int struct {
	Value int64
	Pos   diag.Pos
	Set   bool
}

// Missing reports whether the key was absent.
func (i Int) Missing() bool { return !i.Set && i.Pos.Line == 0 }

// Num is a numeric scalar (integer or float) with its position.
type Num struct {
	Value float64
	Pos   diag.Pos
	Set   bool
}

// Bool is a boolean scalar with its position.
type Bool struct {
	Value bool
	Pos   diag.Pos
	Set   bool
}

// Spec is a whole spec file.
type Spec struct {
	File string
	Pos  diag.Pos // position of the document's root
	// Unreadable is set when the document has no usable root mapping (a YAML
	// syntax error, an empty file, a list): nothing else in it can be checked.
	Unreadable bool
	// TasksUnreadable is set when `tasks` is not a mapping, so that pipelines
	// naming tasks do not repeat that error.
	TasksUnreadable bool
	Version         Int
	Package         Str
	Service         *Service
	Types           []*TypeDef
	Tasks           []*Task
	Pipelines       []*Pipeline
	Security        *Security
}

// Service is the `service` section.
type Service struct {
	Pos         diag.Pos
	Title       Str
	Version     Str
	Description Str
	// Retention is service.retention; nil when absent.
	Retention *Retention
}

// Retention is a `retention` mapping (of the service, or of a pipeline):
// how long and how many finished runs are kept.
type Retention struct {
	Pos     diag.Pos
	MaxAge  Str
	MaxRuns Int
}

// TypeDef is a named type under `types`: an object type with Fields, or a
// named enum (Type and Enum, for example {type: string, enum: [low, high]}).
type TypeDef struct {
	Name        Str
	Pos         diag.Pos
	Description Str
	Fields      []*Field
	FieldsPos   diag.Pos
	// Type is the scalar type of a named enum (only string fits).
	Type Str
	// Enum lists a named enum's values; nil when the key is absent.
	Enum    []Str
	EnumPos diag.Pos
}

// IsEnum reports whether the definition is written as a named enum (it has
// `type` or `enum`) rather than an object type.
func (t *TypeDef) IsEnum() bool { return t.Type.Set || t.Type.Pos.Line > 0 || t.Enum != nil }

// Field is a named, typed value: a field of a type or an input of a task.
type Field struct {
	Name Str
	Type TypeExpr
}

// TypeExpr is a type written either as a scalar ("string?", "[]Result") or as
// a mapping with constraints ({type: string, max_length: 10}).
type TypeExpr struct {
	Pos         diag.Pos
	Type        Str
	Description Str
	Enum        []Str
	EnumPos     diag.Pos
	Min         Num
	Max         Num
	MinLength   Int
	MaxLength   Int
	Pattern     Str
}

// Task is one entry under `tasks`.
type Task struct {
	Name        Str
	Pos         diag.Pos
	Description Str
	Inputs      []*Field
	InputsPos   diag.Pos
	Output      Str
	Type        Str
	Timeout     Str
	Retry       *Retry
	Map         Str
	Concurrency Int
}

// Retry is a task's retry policy.
type Retry struct {
	Pos        diag.Pos
	Attempts   Int
	Backoff    Str
	MaxBackoff Str
}

// Pipeline is one entry under `pipelines`.
type Pipeline struct {
	Name        Str
	Pos         diag.Pos
	Description Str
	Tasks       []Str
	TasksPos    diag.Pos
	// TasksUnreadable is set when `tasks` is not a list (already reported).
	TasksUnreadable bool
	Outputs         []Str
	OutputsSet      bool
	OutputsPos      diag.Pos
	Timeout         Str
	RateLimit       Str
	// Retention is the pipeline's own retention; nil when absent.
	Retention *Retention
}

// Security is the `security` section.
type Security struct {
	Pos            diag.Pos
	Enabled        Bool
	Auth           []Str
	AuthPos        diag.Pos
	APIKey         *APIKey
	Keys           []*Key
	KeysPos        diag.Pos
	KeysFile       Str
	JWT            *JWT
	ACLs           []*ACL
	ACLsPos        diag.Pos
	RequireHTTPS   Bool
	TrustedProxies []Str
	RateLimits     *RateLimits
	Audit          *Audit
	Metrics        *Metrics
}

// APIKey configures API-key authentication.
type APIKey struct {
	Pos    diag.Pos
	Header Str
}

// Key is one API key under `security.keys`.
type Key struct {
	Name        Str
	Pos         diag.Pos
	Env         Str
	SHA256      Str
	Literal     Str // a key written into the spec, which is always an error
	Role        Str
	Pipelines   []Str
	PipelinesOK bool // the pipelines key was present
	Expires     Str
	Description Str
}

// JWT configures bearer-token authentication.
type JWT struct {
	Pos               diag.Pos
	SecretEnv         Str
	PreviousSecretEnv Str
	PublicKeyFile     Str
	JWKSURL           Str
	Discovery         Bool
	Algorithm         Str
	Algorithms        []Str
	AlgorithmsPos     diag.Pos // zero when `algorithms` is not written
	// Issuers and Audiences hold `issuer` and `audience`, each written as
	// one string or a list of them.
	Issuers        []Str
	IssuerPos      diag.Pos // zero when `issuer` is not written
	Audiences      []Str
	AudiencePos    diag.Pos
	RoleClaim      Str
	PipelinesClaim Str
	Leeway         Str
}

// ACL is one pattern entry under `security.acls`.
type ACL struct {
	Pattern Str
	Pos     diag.Pos
	Grants  []*Grant
}

// Grant gives an action on the ACL's pipelines to roles.
type Grant struct {
	Action Str
	Roles  []Str
}

// RateLimits is the `security.rate_limits` section.
type RateLimits struct {
	Pos       diag.Pos
	Enabled   Bool
	Default   Str
	Routes    []*RouteLimit
	Anonymous Str // per client address, before authentication
}

// RouteLimit is one entry of `security.rate_limits.routes`.
type RouteLimit struct {
	Route Str
	Rate  Str
}

// Metrics is the `security.metrics` section.
type Metrics struct {
	Pos    diag.Pos
	Roles  []Str
	Listen Str
}

// Audit is the `security.audit` section.
type Audit struct {
	Pos          diag.Pos
	Enabled      Bool
	File         Str
	MaxSize      Str
	Sync         Str
	SyncInterval Str
	MinFree      Str // free space below which anonymous requests are shed
	// KeyEnv and CheckpointInterval anchor the chain: its HMAC key's
	// variable, and how often its checkpoints are emitted.
	KeyEnv             Str
	CheckpointInterval Str
}
