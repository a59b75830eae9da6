// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"
)

const schemaID = "https://taskwire.dev/schema/taskwire-1.json"

// exampleSpec is the spec of CONTRACT.md section 1, plus a map task and a few
// optional keys, so that the schema is proven to accept a full document even
// before specs/ has files.
const exampleSpec = `taskwire: 1
package: securedemo
service:
  title: Secure Taskiq-Flow API
  version: 0.4.5
  description: API security with authentication, rate limiting and audit logging

types:
  Result:
    description: A processed payload.
    fields:
      processed: string
      status: {type: string, enum: [ok, failed]}
      note: string?
  Validated:
    fields:
      processed: string
      status: string
      validated: bool
  Priority:
    description: How soon a report is wanted.
    type: string
    enum: [low, high]
  Stats:
    fields:
      counts: map[string]int64
      scores: "[]float64?"
      nested: "[]map[string]Result"
      score: {type: float64, min: 0, max: 1.5, description: A ratio.}
      code: {type: string, min_length: 1, max_length: 8, pattern: "^[A-Z]+$"}

tasks:
  process_data:
    description: Upper-cases the input.
    inputs:
      data: {type: string, max_length: 10000}
    output: result
    type: Result
    timeout: 30s
    retry: {attempts: 3, backoff: 200ms, max_backoff: 5s}
  validate_result:
    inputs:
      result: Result
    output: validated
    type: Validated
  score_each:
    inputs:
      items: "[]string"
    map: items
    concurrency: 4
    output: scores
    type: float64
    timeout: 1m30s

pipelines:
  secure_demo_pipeline:
    description: Process then validate.
    tasks: [process_data, validate_result]
    outputs: [validated]
    timeout: 5m
    rate_limit: 10/minute
  report_scores:
    tasks: [score_each]

security:
  enabled: true
  auth: [api_key, jwt]
  api_key:
    header: X-API-Key
  keys:
    admin_full:
      env: TASKWIRE_KEY_ADMIN_FULL
      role: admin
      pipelines: ["*"]
    viewer_reports:
      sha256: 8474132ea4c34de306fce8c4a3f4bf6db6bfecb839876578b1dfebb36e5673b7
      role: viewer
      pipelines: ["report_*"]
      expires: 2027-01-31
      description: Read-only reports access.
    ci_runner:
      env: CI_KEY
      role: admin
      expires: 2027-01-31T12:00:00Z
  jwt:
    secret_env: TASKWIRE_JWT_SECRET
    algorithm: HS256
    issuer: https://auth.example.com
    audience: taskwire
    role_claim: role
    pipelines_claim: pipelines
    leeway: 30s
  acls:
    "*": {read: [admin, viewer], execute: [admin], write: [admin]}
    "report_*": {write: [admin]}
  require_https: false
  trusted_proxies: [10.0.0.0/8, 127.0.0.1, "::1", "fd00::/8"]
  rate_limits:
    enabled: true
    default: 60/minute
    routes: {list_pipelines: 100/minute, execute: 10/minute, execute_report_scores: 5/second}
  audit:
    enabled: true
    file: audit.jsonl
    max_size: 64MiB
`

// minimalSpec is the smallest valid spec.
const minimalSpec = `taskwire: 1
package: demo
`

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatalf("adding schema: %v", err)
	}
	sch, err := c.Compile(schemaID)
	if err != nil {
		t.Fatalf("compiling schema: %v", err)
	}
	return sch
}

// yamlInstance decodes a YAML document into a JSON-compatible value, the way
// an editor sees it (yaml.v3 keeps timestamps as strings when decoding into
// any; map keys are turned into strings).
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding YAML: %v", err)
	}
	b, err := json.Marshal(jsonCompatible(v))
	if err != nil {
		t.Fatalf("encoding JSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding JSON: %v", err)
	}
	return inst
}

func jsonCompatible(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonCompatible(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonCompatible(e)
		}
		return out
	default:
		return v
	}
}

func validateYAML(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	return sch.Validate(yamlInstance(t, data))
}

func TestSchemaCompiles(t *testing.T) {
	compileSchema(t)

	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
	}
	if doc["$id"] != schemaID {
		t.Errorf("$id = %v, want %s", doc["$id"], schemaID)
	}
	for _, k := range []string{"title", "description"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("schema has no %s", k)
		}
	}

	// Schema returns a copy: changing it does not change the next one.
	b := Schema()
	b[0] = 'x'
	if Schema()[0] != '{' {
		t.Error("Schema() returned the embedded bytes, not a copy")
	}
}

// schemaDoc is the schema as a generic JSON tree.
func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// deref follows local $refs ("#/$defs/x") until it reaches a schema without one.
func deref(t *testing.T, root, node map[string]any) map[string]any {
	t.Helper()
	for range 32 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		ptr, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			t.Fatalf("non-local $ref %q", ref)
		}
		var cur any = root
		for _, seg := range strings.Split(ptr, "/") {
			seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("$ref %q: %q is not in an object", ref, seg)
			}
			if cur, ok = m[seg]; !ok {
				t.Fatalf("$ref %q: no %q", ref, seg)
			}
		}
		if node, ok = cur.(map[string]any); !ok {
			t.Fatalf("$ref %q is not a schema object", ref)
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

// objectBranch returns the schema itself when it describes an object, or the
// branch of its oneOf/anyOf that does (a type written as a mapping).
func objectBranch(t *testing.T, root, node map[string]any) (map[string]any, bool) {
	t.Helper()
	if _, ok := node["properties"]; ok {
		return node, true
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		branches, _ := node[kw].([]any)
		for _, b := range branches {
			bm, ok := b.(map[string]any)
			if !ok {
				continue
			}
			bm = deref(t, root, bm)
			if bm["type"] == "object" {
				return bm, true
			}
		}
	}
	return nil, false
}

// schemaAt walks the schema along path, a list of keyword/name segments,
// following $refs on the way.
func schemaAt(t *testing.T, root map[string]any, path []string) (map[string]any, error) {
	t.Helper()
	node := deref(t, root, root)
	for _, seg := range path {
		next, ok := node[seg]
		if !ok {
			return nil, fmt.Errorf("no %q", seg)
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not a schema object", seg)
		}
		node = deref(t, root, m)
	}
	return node, nil
}

// knownKeysPaths maps a KnownKeys place to the schema paths of the mappings
// found there. "a.b" is properties/a/properties/b; "*" (any user name) is
// additionalProperties. "field" (a type written as a mapping) is found both
// as a field of a type and as a task input.
func knownKeysPaths(place string) [][]string {
	if place == "field" {
		return [][]string{
			{"properties", "types", "additionalProperties", "properties", "fields", "additionalProperties"},
			{"properties", "tasks", "additionalProperties", "properties", "inputs", "additionalProperties"},
		}
	}
	var path []string
	if place != "" {
		for _, seg := range strings.Split(place, ".") {
			if seg == "*" {
				path = append(path, "additionalProperties")
			} else {
				path = append(path, "properties", seg)
			}
		}
	}
	return [][]string{path}
}

func TestSchemaKnownKeys(t *testing.T) {
	root := schemaDoc(t)
	places := KnownKeys()
	if len(places) == 0 {
		t.Fatal("KnownKeys is empty")
	}
	for place, keys := range places {
		for _, path := range knownKeysPaths(place) {
			where := fmt.Sprintf("KnownKeys()[%q] at schema #/%s", place, strings.Join(path, "/"))
			node, err := schemaAt(t, root, path)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			obj, ok := objectBranch(t, root, node)
			if !ok {
				t.Errorf("%s: not an object schema", where)
				continue
			}
			props, _ := obj["properties"].(map[string]any)
			var got []string
			for k := range props {
				got = append(got, k)
			}
			sort.Strings(got)
			want := slices.Clone(keys)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: schema properties %v, parser keys %v", where, got, want)
			}
			if obj["additionalProperties"] != false && obj["unevaluatedProperties"] != false {
				t.Errorf("%s: object is not closed (additionalProperties: false)", where)
			}
		}
	}
}

// walkSchemas calls fn for every subschema object of the schema document, with
// its JSON pointer.
func walkSchemas(node any, ptr string, fn func(ptr string, m map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		fn(ptr, n)
		for k, v := range n {
			switch k {
			case "enum", "const", "examples", "required", "default":
				continue // values, not schemas
			}
			walkSchemas(v, ptr+"/"+k, fn)
		}
	case []any:
		for i, v := range n {
			walkSchemas(v, fmt.Sprintf("%s/%d", ptr, i), fn)
		}
	}
}

// TestSchemaObjectsClosed checks that every mapping of the schema either is
// closed (additionalProperties: false) or is keyed by user names whose shape
// propertyNames constrains, so an editor flags every unknown key.
func TestSchemaObjectsClosed(t *testing.T) {
	root := schemaDoc(t)
	n := 0
	walkSchemas(root, "#", func(ptr string, m map[string]any) {
		if m["type"] != "object" {
			if _, ok := m["properties"]; !ok {
				return
			}
		}
		n++
		switch ap := m["additionalProperties"].(type) {
		case bool:
			if ap {
				t.Errorf("%s: additionalProperties: true", ptr)
			}
		case map[string]any:
			if _, ok := m["propertyNames"]; !ok {
				t.Errorf("%s: a map without propertyNames", ptr)
			}
		default:
			if m["unevaluatedProperties"] != false {
				t.Errorf("%s: object schema is open (no additionalProperties)", ptr)
			}
		}
	})
	if n < 10 {
		t.Errorf("only %d object schemas found", n)
	}
}

// TestSchemaDescriptions checks that every property has a description (its
// own or that of the schema its $ref names), for editor hovers.
func TestSchemaDescriptions(t *testing.T) {
	root := schemaDoc(t)
	walkSchemas(root, "#", func(ptr string, m map[string]any) {
		if !strings.HasSuffix(ptr, "/properties") && !strings.HasSuffix(ptr, "/$defs") && ptr != "#/$defs" {
			return
		}
		for name, p := range m {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			if d, _ := pm["description"].(string); d != "" {
				continue
			}
			if d, _ := deref(t, root, pm)["description"].(string); d != "" {
				continue
			}
			t.Errorf("%s/%s has no description", ptr, name)
		}
	})
}

func TestSchemaValidatesExample(t *testing.T) {
	sch := compileSchema(t)
	for name, src := range map[string]string{"example": exampleSpec, "minimal": minimalSpec} {
		if err := validateYAML(t, sch, []byte(src)); err != nil {
			t.Errorf("%s spec: %v", name, err)
		}
	}
}

func TestSchemaValidatesSpecs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "specs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no specs/*.yaml files yet")
	}
	sch := compileSchema(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateYAML(t, sch, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSchemaValidatesPositiveCases checks that every validate case without
// errors (warnings are fine) passes the schema: the schema must never be
// stricter than the validator.
func TestSchemaValidatesPositiveCases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "validate", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sch := compileSchema(t)
	n := 0
	for _, dir := range dirs {
		want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(want, []byte(": error: ")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "taskwire.yaml"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		if err := validateYAML(t, sch, data); err != nil {
			t.Errorf("%s (a positive case) fails the schema: %v", dir, err)
		}
	}
	if n == 0 {
		t.Skip("no positive testdata/validate cases yet")
	}
}

// findError reports whether the error tree has an error at the instance
// location (a JSON pointer) from the keyword. For propertyNames, at names the
// offending key itself (its parent's path plus the key): jsonschema v6.0.3
// does not copy the instance location of propertyNames errors, so only the
// key is compared. A not error has no keyword path in jsonschema v6.0.3, so
// it is matched by its kind.
func findError(err *jsonschema.ValidationError, at, keyword string) bool {
	loc := ""
	for _, s := range err.InstanceLocation {
		loc += "/" + s
	}
	if _, ok := err.ErrorKind.(*kind.Not); ok && keyword == "not" && loc == at {
		return true
	}
	if pn, ok := err.ErrorKind.(*kind.PropertyNames); ok {
		if keyword == "propertyNames" && strings.HasSuffix(at, "/"+pn.Property) {
			return true
		}
	} else if kp := err.ErrorKind.KeywordPath(); loc == at && len(kp) > 0 && kp[0] == keyword {
		return true
	}
	for _, c := range err.Causes {
		if findError(c, at, keyword) {
			return true
		}
	}
	return false
}

func TestSchemaRejectsInvalid(t *testing.T) {
	sch := compileSchema(t)
	const head = "taskwire: 1\npackage: demo\n"
	const key = "security:\n  keys:\n    k:\n      role: admin\n"
	cases := []struct {
		name, src   string
		at, keyword string // where the schema must report the problem
	}{
		{"unknown root key", head + "pipeline: {}\n", "", "additionalProperties"},
		{"version 2", "taskwire: 2\npackage: demo\n", "/taskwire", "const"},
		{"no version", "package: demo\n", "", "required"},
		{"no package", "taskwire: 1\n", "", "required"},
		{"bad package name", "taskwire: 1\npackage: Demo-Pkg\n", "/package", "pattern"},
		{"key with env and sha256", head + key +
			"      env: K\n      sha256: 8474132ea4c34de306fce8c4a3f4bf6db6bfecb839876578b1dfebb36e5673b7\n",
			"/security/keys/k", "oneOf"},
		{"key with neither env nor sha256", head + key, "/security/keys/k", "oneOf"},
		{"literal key", head + key + "      env: K\n      value: sk_secret\n", "/security/keys/k", "additionalProperties"},
		{"key without role", head + "security:\n  keys:\n    k: {env: K}\n", "/security/keys/k", "required"},
		{"bad sha256", head + key + "      sha256: abc\n", "/security/keys/k/sha256", "pattern"},
		{"bad env name", head + key + "      env: my-key\n", "/security/keys/k/env", "pattern"},
		{"bad expires", head + key + "      env: K\n      expires: next year\n", "/security/keys/k/expires", "pattern"},
		{"bad rate", head + "pipelines:\n  p:\n    tasks: [t]\n    rate_limit: 10/minutes\n", "/pipelines/p/rate_limit", "pattern"},
		{"zero rate", head + "security:\n  rate_limits:\n    default: 0/second\n", "/security/rate_limits/default", "pattern"},
		{"bad route rate", head + "security:\n  rate_limits:\n    routes: {execute: fast}\n", "/security/rate_limits/routes/execute", "pattern"},
		{"bad duration", head + "tasks:\n  t:\n    timeout: 5 minutes\n", "/tasks/t/timeout", "pattern"},
		{"bad backoff", head + "tasks:\n  t:\n    retry: {backoff: 2}\n", "/tasks/t/retry/backoff", "type"},
		{"zero attempts", head + "tasks:\n  t:\n    retry: {attempts: 0}\n", "/tasks/t/retry/attempts", "minimum"},
		{"zero concurrency", head + "tasks:\n  t:\n    concurrency: 0\n", "/tasks/t/concurrency", "minimum"},
		{"unknown task key", head + "tasks:\n  t:\n    ouput: x\n", "/tasks/t", "additionalProperties"},
		{"unknown ACL action", head + "security:\n  acls:\n    \"*\": {delete: [admin]}\n", "/security/acls/*", "additionalProperties"},
		{"bad ACL pattern", head + "security:\n  acls:\n    \"report-?\": {read: [admin]}\n", "/security/acls/report-?", "propertyNames"},
		{"unknown auth method", head + "security:\n  auth: [basic]\n", "/security/auth/0", "enum"},
		{"bad algorithm", head + "security:\n  jwt: {algorithm: none}\n", "/security/jwt/algorithm", "enum"},
		{"bad max_size", head + "security:\n  audit: {max_size: 100 megabytes}\n", "/security/audit/max_size", "pattern"},
		{"bad audit sync", head + "security:\n  audit: {sync: sometimes}\n", "/security/audit/sync", "enum"},
		{"bad sync_interval", head + "security:\n  audit: {sync_interval: 50 ms}\n", "/security/audit/sync_interval", "pattern"},
		{"bad require_https", head + "security:\n  require_https: sometimes\n", "/security/require_https", "type"},
		{"bad task name", head + "tasks:\n  ProcessData: {}\n", "/tasks/ProcessData", "propertyNames"},
		{"bad type name", head + "types:\n  result: {}\n", "/types/result", "propertyNames"},
		{"enum type with fields", head + "types:\n  P:\n    type: string\n    enum: [a]\n    fields: {x: string}\n", "/types/P", "not"},
		{"enum without type", head + "types:\n  P:\n    enum: [a]\n", "/types/P", "dependentRequired"},
		{"enum type of int", head + "types:\n  P:\n    type: int\n    enum: [1]\n", "/types/P/type", "const"},
		{"bad type expression", head + "types:\n  R:\n    fields: {items: list<string>}\n", "/types/R/fields/items", "oneOf"},
		{"bad optional marker", head + "types:\n  R:\n    fields: {items: \"?string\"}\n", "/types/R/fields/items", "oneOf"},
		{"constraint without type", head + "tasks:\n  t:\n    inputs: {d: {max_length: 3}}\n", "/tasks/t/inputs/d", "oneOf"},
		{"unknown constraint", head + "tasks:\n  t:\n    inputs: {d: {type: string, maxLength: 3}}\n", "/tasks/t/inputs/d", "oneOf"},
		{"bad task type", head + "tasks:\n  t:\n    type: \"map[int]string\"\n", "/tasks/t/type", "pattern"},
		{"empty pipeline", head + "pipelines:\n  p:\n    tasks: []\n", "/pipelines/p/tasks", "minItems"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateYAML(t, sch, []byte(c.src))
			if err == nil {
				t.Fatalf("schema accepts:\n%s", c.src)
			}
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a validation error: %v", err)
			}
			if !findError(ve, c.at, c.keyword) {
				t.Errorf("no %s error at %q:\n%v", c.keyword, c.at, err)
			}
		})
	}
}
