// SPDX-License-Identifier: Apache-2.0

package spec

// Known keys of each mapping of the format, in the order the docs list them.
// The JSON Schema and the spec reference are kept in step with these tables by tests.
var (
	rootKeys       = []string{"taskwire", "package", "service", "types", "tasks", "pipelines", "security"}
	serviceKeys    = []string{"title", "version", "description", "retention"}
	retentionKeys  = []string{"max_age", "max_runs"}
	typeKeys       = []string{"description", "fields", "type", "enum"}
	typeExprKeys   = []string{"type", "description", "enum", "min", "max", "min_length", "max_length", "pattern"}
	taskKeys       = []string{"description", "inputs", "output", "type", "timeout", "retry", "map", "concurrency"}
	retryKeys      = []string{"attempts", "backoff", "max_backoff"}
	pipelineKeys   = []string{"description", "tasks", "outputs", "timeout", "rate_limit", "retention"}
	securityKeys   = []string{"enabled", "auth", "api_key", "keys", "keys_file", "jwt", "acls", "require_https", "trusted_proxies", "rate_limits", "audit", "metrics"}
	apiKeyKeys     = []string{"header"}
	keyKeys        = []string{"env", "sha256", "role", "pipelines", "expires", "description"}
	literalKeyKeys = []string{"key", "value", "secret", "api_key", "token"}
	jwtKeys        = []string{"secret_env", "previous_secret_env", "public_key_file", "jwks_url", "discovery", "algorithm", "algorithms", "issuer", "audience", "role_claim", "pipelines_claim", "leeway"}
	aclActions     = []string{"read", "execute", "write", "all_runs"}
	rateLimitsKeys = []string{"enabled", "default", "routes", "anonymous"}
	auditKeys      = []string{"enabled", "file", "max_size", "sync", "sync_interval", "min_free", "key_env", "checkpoint_interval"}
	metricsKeys    = []string{"roles", "listen"}
)

// KnownKeys returns the keys each mapping of the format accepts, by the
// mapping's place in the document: "" (the root), "service",
// "service.retention", "types.*", "field" (a type written as a mapping),
// "tasks.*", "tasks.*.retry", "pipelines.*", "pipelines.*.retention",
// "security", "security.api_key", "security.keys.*",
// "security.jwt", "security.acls.*", "security.rate_limits",
// "security.audit" and "security.metrics". Mappings keyed by user names (types, tasks, pipelines,
// keys, acls, fields, inputs, routes) are not listed.
func KnownKeys() map[string][]string {
	return map[string][]string{
		"":                      rootKeys,
		"service":               serviceKeys,
		"service.retention":     retentionKeys,
		"types.*":               typeKeys,
		"field":                 typeExprKeys,
		"tasks.*":               taskKeys,
		"tasks.*.retry":         retryKeys,
		"pipelines.*":           pipelineKeys,
		"pipelines.*.retention": retentionKeys,
		"security":              securityKeys,
		"security.api_key":      apiKeyKeys,
		"security.keys.*":       keyKeys,
		"security.jwt":          jwtKeys,
		"security.acls.*":       aclActions,
		"security.rate_limits":  rateLimitsKeys,
		"security.audit":        auditKeys,
		"security.metrics":      metricsKeys,
	}
}
