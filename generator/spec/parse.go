// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/taskwire/taskwire/generator/diag"
)

// MaxSize is the largest spec file Parse accepts, in bytes.
const MaxSize = 8 << 20

// Parse parses a spec file. It returns the raw spec (as much of it as could be
// read) and every shape problem found, sorted by position. The returned Spec is
// never nil; a spec with errors must not be used to generate code.
func Parse(file string, data []byte) (*Spec, []diag.Diagnostic) {
	p := &parser{file: file}
	s := p.parse(data)
	return s, p.diags.Sorted()
}

type parser struct {
	file        string
	diags       diag.List
	syntaxError bool
}

func (p *parser) pos(n *yaml.Node) diag.Pos {
	return diag.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.diags.Errorf(p.pos(n), format, args...)
}

func (p *parser) parse(data []byte) *Spec {
	s := &Spec{File: p.file, Pos: diag.Pos{File: p.file, Line: 1, Col: 1}}
	s.Unreadable = true // until a root mapping is found
	if len(data) > MaxSize {
		p.diags.Errorf(s.Pos, "spec is %d bytes; the limit is %d bytes", len(data), MaxSize)
		return s
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.diags.Errorf(s.Pos, "spec is empty; it needs at least `taskwire: 1` and `package`")
			return s
		}
		p.yamlError(err, data)
		return s
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errorf(&next, "a spec file holds one YAML document; remove this second document (and the `---` before it)")
	case !errors.Is(err, io.EOF):
		p.yamlError(err, data)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.diags.Errorf(s.Pos, "spec is empty; it needs at least `taskwire: 1` and `package`")
		return s
	}
	root := doc.Content[0]
	s.Pos = p.pos(root)
	p.root(s, root)
	return s
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!str":
			return "a string"
		}
		return "a scalar"
	}
	return "nothing"
}

// usable reports whether n can be read at all; aliases, anchors and merge keys are
// refused so that a spec means what it says and cannot expand exponentially.
func (p *parser) usable(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "YAML aliases (*%s) are not supported in a spec; write the value out", n.Value)
		return false
	}
	if n.Anchor != "" {
		p.errorf(n, "YAML anchors (&%s) are not supported in a spec; write values out", n.Anchor)
	}
	return true
}

// mapping walks the key/value pairs of a mapping node, reporting duplicate keys,
// non-string keys and (when known is non-nil) unknown keys with a suggestion.
// what names the mapping in messages.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) bool {
	if !p.usable(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return false
		}
		p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return false
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.usable(k) || !p.usable(v) {
			continue
		}
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
			if k.Tag == "!!merge" {
				p.errorf(k, "YAML merge keys (<<) are not supported in a spec; write the keys out")
			} else {
				p.errorf(k, "keys of %s must be plain strings, not %s", what, kindName(k))
			}
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, "duplicate key %q in %s (first defined at line %d)", k.Value, what, prev.Line)
			continue
		}
		seen[k.Value] = k
		if known != nil && !contains(known, k.Value) {
			hint := diag.DidYouMean(k.Value, known)
			if hint == "" {
				hint = "; known keys: " + strings.Join(known, ", ")
			}
			p.errorf(k, "unknown key %q in %s%s", k.Value, what, hint)
			continue
		}
		fn(k.Value, k, v)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// name reads a user-chosen mapping key (a task name, a type name, ...).
func (p *parser) name(k *yaml.Node) Str {
	return Str{Value: k.Value, Pos: p.pos(k), Set: true}
}

// str reads a scalar as a string. Any non-null scalar is accepted, so that
// `version: 1.0` reads as "1.0".
func (p *parser) str(n *yaml.Node, what string) Str {
	bad := Str{Pos: p.pos(n)}
	if !p.usable(n) {
		return bad
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return bad
	}
	return Str{Value: n.Value, Pos: p.pos(n), Set: true}
}

func (p *parser) integer(n *yaml.Node, what string) Int {
	bad := Int{Pos: p.pos(n)}
	if !p.usable(n) {
		return bad
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.errorf(n, "%s must be an integer, not %s", what, kindName(n))
		return bad
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		p.errorf(n, "%s: %q is not a 64-bit integer", what, n.Value)
		return bad
	}
	return Int{Value: v, Pos: p.pos(n), Set: true}
}

func (p *parser) number(n *yaml.Node, what string) Num {
	if !p.usable(n) {
		return Num{}
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.errorf(n, "%s must be a number, not %s", what, kindName(n))
		return Num{}
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		var i int64
		i, err = strconv.ParseInt(n.Value, 0, 64)
		v = float64(i)
	}
	if err != nil {
		p.errorf(n, "%s: %q is not a finite number", what, n.Value)
		return Num{}
	}
	return Num{Value: v, Pos: p.pos(n), Set: true}
}

func (p *parser) boolean(n *yaml.Node, what string) Bool {
	if !p.usable(n) {
		return Bool{}
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.errorf(n, "%s must be true or false, not %s", what, kindName(n))
		return Bool{}
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "%s must be true or false", what)
		return Bool{}
	}
	return Bool{Value: b, Pos: p.pos(n), Set: true}
}

// strList reads a list of strings; a single scalar is refused with a hint.
func (p *parser) strList(n *yaml.Node, what string) ([]Str, bool) {
	if !p.usable(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			p.errorf(n, "%s must be a list; write [%s]", what, n.Value)
		} else if n.Tag != "!!null" {
			p.errorf(n, "%s must be a list of strings, not %s", what, kindName(n))
		}
		return nil, n.Tag == "!!null"
	}
	out := make([]Str, 0, len(n.Content))
	for _, item := range n.Content {
		if s := p.str(item, what+" entries"); s.Set {
			out = append(out, s)
		}
	}
	return out, true
}

func (p *parser) root(s *Spec, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a spec must be a mapping with `taskwire: 1` and `package`, not %s", kindName(n))
		return
	}
	if p.syntaxError {
		return // the tree is not what the author wrote
	}
	s.Unreadable = false
	p.mapping(n, "the spec", rootKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "taskwire":
			s.Version = p.integer(v, "taskwire (the format version)")
		case "package":
			s.Package = p.str(v, "package")
		case "service":
			s.Service = p.service(k, v)
		case "types":
			p.mapping(v, "types", nil, func(_ string, k, v *yaml.Node) { s.Types = append(s.Types, p.typeDef(k, v)) })
		case "tasks":
			s.TasksUnreadable = !p.mapping(v, "tasks", nil, func(_ string, k, v *yaml.Node) { s.Tasks = append(s.Tasks, p.task(k, v)) }) && v.Tag != "!!null"
		case "pipelines":
			p.mapping(v, "pipelines", nil, func(_ string, k, v *yaml.Node) { s.Pipelines = append(s.Pipelines, p.pipeline(k, v)) })
		case "security":
			s.Security = p.security(k, v)
		}
	})
	if s.Version.Missing() {
		p.diags.Errorf(s.Pos, "missing `taskwire: 1` (the spec format version)")
	}
	if s.Package.Missing() {
		p.diags.Errorf(s.Pos, "missing `package` (the Go package name of the generated code)")
	}
}

func (p *parser) service(k, n *yaml.Node) *Service {
	svc := &Service{Pos: p.pos(k)}
	p.mapping(n, "service", serviceKeys, func(key string, kk, v *yaml.Node) {
		switch key {
		case "retention":
			svc.Retention = p.retention(kk, v, "service.retention")
		case "title":
			svc.Title = p.str(v, "service.title")
		case "version":
			svc.Version = p.str(v, "service.version")
		case "description":
			svc.Description = p.str(v, "service.description")
		}
	})
	return svc
}

func (p *parser) typeDef(k, n *yaml.Node) *TypeDef {
	t := &TypeDef{Name: p.name(k), Pos: p.pos(k)}
	what := fmt.Sprintf("type %q", k.Value)
	p.mapping(n, what, typeKeys, func(key string, kk, v *yaml.Node) {
		switch key {
		case "description":
			t.Description = p.str(v, what+" description")
		case "fields":
			t.FieldsPos = p.pos(kk)
			t.Fields = p.fields(v, what+" fields")
		case "type":
			t.Type = p.str(v, what+" type")
		case "enum":
			t.EnumPos = p.pos(kk)
			t.Enum, _ = p.strList(v, what+" enum")
			if t.Enum == nil {
				t.Enum = []Str{}
			}
		}
	})
	return t
}

func (p *parser) fields(n *yaml.Node, what string) []*Field {
	var out []*Field
	p.mapping(n, what, nil, func(_ string, k, v *yaml.Node) {
		out = append(out, &Field{Name: p.name(k), Type: p.typeExpr(v, fmt.Sprintf("%s %q", what, k.Value))})
	})
	return out
}

// typeExpr reads `string?` or `{type: string, max_length: 10}`.
func (p *parser) typeExpr(n *yaml.Node, what string) TypeExpr {
	t := TypeExpr{Pos: p.pos(n)}
	if !p.usable(n) {
		return t
	}
	switch n.Kind {
	case yaml.ScalarNode:
		t.Type = p.str(n, what)
		return t
	case yaml.MappingNode:
	default:
		p.errorf(n, "%s must be a type name such as `string` or a mapping with `type`, not %s", what, kindName(n))
		return t
	}
	p.mapping(n, what, typeExprKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "type":
			t.Type = p.str(v, what+" type")
		case "description":
			t.Description = p.str(v, what+" description")
		case "enum":
			t.EnumPos = p.pos(k)
			t.Enum, _ = p.strList(v, what+" enum")
			if t.Enum == nil {
				t.Enum = []Str{}
			}
		case "min":
			t.Min = p.number(v, what+" min")
		case "max":
			t.Max = p.number(v, what+" max")
		case "min_length":
			t.MinLength = p.integer(v, what+" min_length")
		case "max_length":
			t.MaxLength = p.integer(v, what+" max_length")
		case "pattern":
			t.Pattern = p.str(v, what+" pattern")
		}
	})
	if t.Type.Missing() {
		p.errorf(n, "%s has no `type`", what)
	}
	return t
}

func (p *parser) task(k, n *yaml.Node) *Task {
	t := &Task{Name: p.name(k), Pos: p.pos(k)}
	what := fmt.Sprintf("task %q", k.Value)
	p.mapping(n, what, taskKeys, func(key string, kk, v *yaml.Node) {
		switch key {
		case "description":
			t.Description = p.str(v, what+" description")
		case "inputs":
			t.InputsPos = p.pos(kk)
			t.Inputs = p.fields(v, what+" input")
		case "output":
			t.Output = p.str(v, what+" output")
		case "type":
			t.Type = p.str(v, what+" type")
		case "timeout":
			t.Timeout = p.str(v, what+" timeout")
		case "retry":
			t.Retry = p.retry(kk, v, what+" retry")
		case "map":
			t.Map = p.str(v, what+" map")
		case "concurrency":
			t.Concurrency = p.integer(v, what+" concurrency")
		}
	})
	return t
}

func (p *parser) retry(k, n *yaml.Node, what string) *Retry {
	r := &Retry{Pos: p.pos(k)}
	p.mapping(n, what, retryKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "attempts":
			r.Attempts = p.integer(v, what+" attempts")
		case "backoff":
			r.Backoff = p.str(v, what+" backoff")
		case "max_backoff":
			r.MaxBackoff = p.str(v, what+" max_backoff")
		}
	})
	return r
}

func (p *parser) pipeline(k, n *yaml.Node) *Pipeline {
	pl := &Pipeline{Name: p.name(k), Pos: p.pos(k), TasksPos: p.pos(k)}
	what := fmt.Sprintf("pipeline %q", k.Value)
	p.mapping(n, what, pipelineKeys, func(key string, kk, v *yaml.Node) {
		switch key {
		case "description":
			pl.Description = p.str(v, what+" description")
		case "tasks":
			pl.TasksPos = p.pos(kk)
			var ok bool
			pl.Tasks, ok = p.strList(v, what+" tasks")
			pl.TasksUnreadable = !ok
		case "outputs":
			pl.OutputsPos = p.pos(kk)
			pl.Outputs, _ = p.strList(v, what+" outputs")
			pl.OutputsSet = true
		case "timeout":
			pl.Timeout = p.str(v, what+" timeout")
		case "rate_limit":
			pl.RateLimit = p.str(v, what+" rate_limit")
		case "retention":
			pl.Retention = p.retention(kk, v, what+" retention")
		}
	})
	return pl
}

func (p *parser) retention(k, n *yaml.Node, what string) *Retention {
	r := &Retention{Pos: p.pos(k)}
	p.mapping(n, what, retentionKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "max_age":
			r.MaxAge = p.str(v, what+" max_age")
		case "max_runs":
			r.MaxRuns = p.integer(v, what+" max_runs")
		}
	})
	return r
}

func (p *parser) security(k, n *yaml.Node) *Security {
	s := &Security{Pos: p.pos(k)}
	p.mapping(n, "security", securityKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "enabled":
			s.Enabled = p.boolean(v, "security.enabled")
		case "auth":
			s.AuthPos = p.pos(k)
			s.Auth, _ = p.strList(v, "security.auth")
		case "api_key":
			s.APIKey = &APIKey{Pos: p.pos(k)}
			p.mapping(v, "security.api_key", apiKeyKeys, func(_ string, _, v *yaml.Node) {
				s.APIKey.Header = p.str(v, "security.api_key.header")
			})
		case "keys":
			s.KeysPos = p.pos(k)
			p.mapping(v, "security.keys", nil, func(_ string, k, v *yaml.Node) { s.Keys = append(s.Keys, p.key(k, v)) })
		case "keys_file":
			s.KeysFile = p.str(v, "security.keys_file")
		case "jwt":
			s.JWT = p.jwt(k, v)
		case "acls":
			s.ACLsPos = p.pos(k)
			p.mapping(v, "security.acls", nil, func(_ string, k, v *yaml.Node) { s.ACLs = append(s.ACLs, p.acl(k, v)) })
		case "require_https":
			s.RequireHTTPS = p.boolean(v, "security.require_https")
		case "trusted_proxies":
			s.TrustedProxies, _ = p.strList(v, "security.trusted_proxies")
		case "rate_limits":
			s.RateLimits = p.rateLimits(k, v)
		case "audit":
			s.Audit = p.audit(k, v)
		case "metrics":
			s.Metrics = p.metrics(k, v)
		}
	})
	return s
}

func (p *parser) key(k, n *yaml.Node) *Key {
	key := &Key{Name: p.name(k), Pos: p.pos(k)}
	what := fmt.Sprintf("key %q", k.Value)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		// `admin: sk_live_...`: the key itself written into the spec.
		key.Literal = Str{Value: n.Value, Pos: p.pos(n), Set: true}
		return key
	}
	known := append(append([]string(nil), keyKeys...), literalKeyKeys...)
	p.mapping(n, what, known, func(name string, _, v *yaml.Node) {
		switch name {
		case "env":
			key.Env = p.str(v, what+" env")
		case "sha256":
			key.SHA256 = p.str(v, what+" sha256")
		case "role":
			key.Role = p.str(v, what+" role")
		case "pipelines":
			key.Pipelines, _ = p.strList(v, what+" pipelines")
			key.PipelinesOK = true
		case "expires":
			key.Expires = p.str(v, what+" expires")
		case "description":
			key.Description = p.str(v, what+" description")
		default: // one of literalKeyKeys
			key.Literal = Str{Value: name, Pos: p.pos(v), Set: true}
		}
	})
	return key
}

func (p *parser) jwt(k, n *yaml.Node) *JWT {
	j := &JWT{Pos: p.pos(k)}
	p.mapping(n, "security.jwt", jwtKeys, func(key string, kk, v *yaml.Node) {
		what := "security.jwt." + key
		switch key {
		case "secret_env":
			j.SecretEnv = p.str(v, what)
		case "previous_secret_env":
			j.PreviousSecretEnv = p.str(v, what)
		case "public_key_file":
			j.PublicKeyFile = p.str(v, what)
		case "jwks_url":
			j.JWKSURL = p.str(v, what)
		case "discovery":
			j.Discovery = p.boolean(v, what)
		case "algorithm":
			j.Algorithm = p.str(v, what)
		case "algorithms":
			j.AlgorithmsPos = p.pos(kk)
			j.Algorithms, _ = p.strList(v, what)
		case "issuer":
			j.IssuerPos = p.pos(kk)
			j.Issuers = p.strOrList(v, what)
		case "audience":
			j.AudiencePos = p.pos(kk)
			j.Audiences = p.strOrList(v, what)
		case "role_claim":
			j.RoleClaim = p.str(v, what)
		case "pipelines_claim":
			j.PipelinesClaim = p.str(v, what)
		case "leeway":
			j.Leeway = p.str(v, what)
		}
	})
	return j
}

// strOrList reads a string or a list of strings.
func (p *parser) strOrList(n *yaml.Node, what string) []Str {
	if n.Kind == yaml.SequenceNode {
		out, _ := p.strList(n, what)
		return out
	}
	if s := p.str(n, what); s.Set {
		return []Str{s}
	}
	return nil
}

func (p *parser) acl(k, n *yaml.Node) *ACL {
	a := &ACL{Pattern: p.name(k), Pos: p.pos(k)}
	what := fmt.Sprintf("ACL %q", k.Value)
	p.mapping(n, what, aclActions, func(action string, kk, v *yaml.Node) {
		roles, _ := p.strList(v, fmt.Sprintf("%s %s roles", what, action))
		a.Grants = append(a.Grants, &Grant{Action: p.name(kk), Roles: roles})
	})
	return a
}

func (p *parser) rateLimits(k, n *yaml.Node) *RateLimits {
	r := &RateLimits{Pos: p.pos(k)}
	p.mapping(n, "security.rate_limits", rateLimitsKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "enabled":
			r.Enabled = p.boolean(v, "security.rate_limits.enabled")
		case "default":
			r.Default = p.str(v, "security.rate_limits.default")
		case "routes":
			p.mapping(v, "security.rate_limits.routes", nil, func(_ string, k, v *yaml.Node) {
				r.Routes = append(r.Routes, &RouteLimit{Route: p.name(k), Rate: p.str(v, fmt.Sprintf("rate limit of route %q", k.Value))})
			})
		case "anonymous":
			r.Anonymous = p.str(v, "security.rate_limits.anonymous")
		}
	})
	return r
}

func (p *parser) metrics(k, n *yaml.Node) *Metrics {
	m := &Metrics{Pos: p.pos(k)}
	p.mapping(n, "security.metrics", metricsKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "roles":
			m.Roles, _ = p.strList(v, "security.metrics.roles")
		case "listen":
			m.Listen = p.str(v, "security.metrics.listen")
		}
	})
	return m
}

func (p *parser) audit(k, n *yaml.Node) *Audit {
	a := &Audit{Pos: p.pos(k)}
	p.mapping(n, "security.audit", auditKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "enabled":
			a.Enabled = p.boolean(v, "security.audit.enabled")
		case "file":
			a.File = p.str(v, "security.audit.file")
		case "max_size":
			a.MaxSize = p.str(v, "security.audit.max_size")
		case "sync":
			a.Sync = p.str(v, "security.audit.sync")
		case "sync_interval":
			a.SyncInterval = p.str(v, "security.audit.sync_interval")
		case "min_free":
			a.MinFree = p.str(v, "security.audit.min_free")
		case "key_env":
			a.KeyEnv = p.str(v, "security.audit.key_env")
		case "checkpoint_interval":
			a.CheckpointInterval = p.str(v, "security.audit.checkpoint_interval")
		}
	})
	return a
}
