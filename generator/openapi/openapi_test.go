// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/route"
)

var update = flag.Bool("update", false, "rewrite the golden documents in testdata/")

func specFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../specs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs in ../../specs: %v", err)
	}
	return files
}

func load(t *testing.T, file string) *model.Model {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return loadData(t, file, data)
}

func loadData(t *testing.T, file string, data []byte) *model.Model {
	t.Helper()
	m, diags := model.Load(file, data)
	if m == nil {
		t.Fatalf("%s does not load: %v", file, diags)
	}
	return m
}

// reload reads a document back the way a client would, and validates it.
func reload(t *testing.T, what string, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("%s does not load: %v", what, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is invalid after a round trip: %v", what, err)
	}
	return doc
}

func schemaOf(t *testing.T, doc *openapi3.T, ref *openapi3.SchemaRef) *openapi3.Schema {
	t.Helper()
	name, ok := strings.CutPrefix(ref.Ref, schemaRefPrefix)
	if !ok {
		t.Fatalf("schema is not a reference to a component: %+v", ref)
	}
	s := doc.Components.Schemas[name]
	if s == nil {
		t.Fatalf("no component schema %s", name)
	}
	return s.Value
}

// TestSpecs checks every example spec's document: valid as built and after
// a round trip through JSON and YAML, every route an operation, every
// execute body exactly the pipeline's inputs.
func TestSpecs(t *testing.T) {
	for _, file := range specFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m := load(t, file)
			doc, err := Document(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Validate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if doc.OpenAPI != "3.0.3" {
				t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
			}
			js, err := JSON(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(js, []byte("}\n")) || !bytes.HasPrefix(js, []byte("{\n  \"openapi\": \"3.0.3\",\n")) {
				t.Errorf("JSON is not indented by two spaces with a trailing newline:\n%.200s", js)
			}
			fromJSON := reload(t, "JSON", js)
			y, err := YAML(m)
			if err != nil {
				t.Fatal(err)
			}
			fromYAML := reload(t, "YAML", y)
			a, _ := json.Marshal(fromJSON)
			b, _ := json.Marshal(fromYAML)
			if !bytes.Equal(a, b) {
				t.Error("the YAML document differs from the JSON one")
			}

			for _, rt := range m.Routes {
				item := fromJSON.Paths.Value(rt.Path)
				if item == nil {
					t.Errorf("route %s %s: no path", rt.Method, rt.Path)
					continue
				}
				op := item.GetOperation(rt.Method)
				if op == nil || op.OperationID != rt.OperationID {
					t.Errorf("route %s %s: operation %+v, want id %s", rt.Method, rt.Path, op, rt.OperationID)
					continue
				}
				if op.Summary != rt.Summary || len(op.Tags) != 1 || op.Tags[0] != rt.Tag {
					t.Errorf("%s: summary %q tags %v, want %q [%s]", rt.OperationID, op.Summary, op.Tags, rt.Summary, rt.Tag)
				}
				if op.Responses.Value("500") == nil {
					t.Errorf("%s: no 500 response", rt.OperationID)
				}
				if rt.Limit != nil && op.Responses.Value("429") == nil {
					t.Errorf("%s: rate limited, but no 429 response", rt.OperationID)
				}
			}
			if n := len(fromJSON.Paths.Map()); n != len(routePaths(m)) {
				t.Errorf("%d paths, want %d", n, len(routePaths(m)))
			}

			for _, p := range m.Pipelines {
				op := fromJSON.Paths.Value("/pipelines/" + p.Name + "/execute").Post
				if op == nil || op.OperationID != route.ExecuteID(p.Name) {
					t.Fatalf("%s: no execute operation", p.Name)
				}
				mt := op.RequestBody.Value.Content.Get("application/json")
				body := schemaOf(t, fromJSON, mt.Schema)
				var names, required []string
				for _, in := range p.Inputs {
					names = append(names, in.Name)
					if !in.Type.Optional {
						required = append(required, in.Name)
					}
				}
				var props []string
				for name := range body.Properties {
					props = append(props, name)
				}
				slices.Sort(props)
				slices.Sort(names)
				if !slices.Equal(props, names) {
					t.Errorf("%s: body properties %v, want the inputs %v", p.Name, props, names)
				}
				if !slices.Equal(body.Required, required) {
					t.Errorf("%s: body requires %v, want %v", p.Name, body.Required, required)
				}
				if ap := body.AdditionalProperties.Has; ap == nil || *ap {
					t.Errorf("%s: body allows additional properties", p.Name)
				}
				if mt.Example == nil {
					t.Errorf("%s: no example body", p.Name)
				}
				for _, code := range []string{"200", "202", "400", "413", "422"} {
					if op.Responses.Value(code) == nil {
						t.Errorf("%s: no %s response", p.Name, code)
					}
				}
				if op.Responses.Value("202").Value.Headers["Location"] == nil {
					t.Errorf("%s: 202 has no Location header", p.Name)
				}
				run := schemaOf(t, fromJSON, op.Responses.Value("200").Value.Content.Get("application/json").Schema)
				outputs := run.Properties["outputs"].Value.OneOf[0]
				if outputs.Ref != schemaRefPrefix+p.OutputGoName {
					t.Errorf("%s: 200 outputs are %s, want %s", p.Name, outputs.Ref, p.OutputGoName)
				}
			}
			for _, ty := range m.Types {
				if fromJSON.Components.Schemas[ty.GoName] == nil {
					t.Errorf("no schema for type %s", ty.GoName)
				}
			}
		})
	}
}

// TestDeterministic generates every document many times: map iteration
// order changes from run to run, the bytes must not.
func TestDeterministic(t *testing.T) {
	for _, file := range specFiles(t) {
		m := load(t, file)
		js0, err := JSON(m)
		if err != nil {
			t.Fatal(err)
		}
		y0, err := YAML(m)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			m := load(t, file)
			js, _ := JSON(m)
			y, _ := YAML(m)
			if !bytes.Equal(js, js0) || !bytes.Equal(y, y0) {
				t.Fatalf("%s: output differs between runs", file)
			}
		}
	}
}

// TestGolden compares each spec's JSON document (and the secure demo's
// YAML) with testdata/; -update rewrites them. The secure demo's JSON is the
// file the lint command checks.
func TestGolden(t *testing.T) {
	for _, file := range specFiles(t) {
		m := load(t, file)
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		js, err := JSON(m)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", base+".openapi.json"), js)
		if base == "secure_demo" {
			y, err := YAML(m)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", base+".openapi.yaml"), y)
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; run go test ./generator/openapi -update and review the diff", path)
	}
}

func TestSecureDemo(t *testing.T) {
	m := load(t, "../../specs/secure_demo.yaml")
	js, err := JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	doc := reload(t, "secure demo", js)
	schemas := doc.Components.Schemas

	status := schemas["Result"].Value.Properties["status"].Value
	if !slices.Equal(status.Enum, []any{"ok", "failed"}) {
		t.Errorf("Result.status enum = %v, want [ok failed]", status.Enum)
	}
	note := schemas["Result"].Value.Properties["note"].Value
	if slices.Contains(schemas["Result"].Value.Required, "note") || !note.Nullable {
		t.Errorf("Result.note: required %v, nullable %v; want optional and nullable", schemas["Result"].Value.Required, note.Nullable)
	}
	if !slices.Equal(schemas["Result"].Value.Required, []string{"processed", "status"}) {
		t.Errorf("Result requires %v", schemas["Result"].Value.Required)
	}
	data := schemas["SecureDemoPipelineInput"].Value.Properties["data"].Value
	if data.MaxLength == nil || *data.MaxLength != 10000 {
		t.Errorf("data maxLength = %v, want 10000", data.MaxLength)
	}
	for _, name := range []string{"Run", "TaskState", "RunAccepted", "RunList", "PipelineList", "Pipeline", "Graph", "Health", "Problem", "SecureDemoPipelineOutput", "SecureDemoPipelineRunResult", "Validated"} {
		if schemas[name] == nil {
			t.Errorf("no schema %s", name)
		}
	}
	problem := schemas["Problem"].Value
	for _, p := range []string{"type", "title", "status", "detail", "request_id", "errors"} {
		if problem.Properties[p] == nil {
			t.Errorf("Problem has no %s", p)
		}
	}

	execute := doc.Paths.Value("/pipelines/secure_demo_pipeline/execute").Post
	tooMany := execute.Responses.Value("429")
	if tooMany.Ref != "#/components/responses/TooManyRequests" {
		t.Errorf("execute 429 is %q, want the shared response", tooMany.Ref)
	}
	for _, h := range []string{"Retry-After", "RateLimit-Policy", "RateLimit"} {
		if tooMany.Value.Headers[h] == nil {
			t.Errorf("execute 429 has no %s header", h)
		}
	}
	if tooMany.Value.Content.Get("application/problem+json") == nil {
		t.Error("execute 429 is not application/problem+json")
	}
	if execute.Responses.Value("202").Value.Headers["RateLimit"] == nil {
		t.Error("execute 202 has no RateLimit header")
	}
	var params []string
	for _, p := range execute.Parameters {
		params = append(params, p.Value.In+":"+p.Value.Name)
	}
	if !slices.Equal(params, []string{"query:wait", "header:Idempotency-Key"}) {
		t.Errorf("execute parameters %v", params)
	}
	if ex, _ := execute.RequestBody.Value.Content.Get("application/json").Example.(map[string]any); ex["data"] != "example" {
		t.Errorf("execute example body %v, want {data: example}", ex)
	}
	if r := execute.Responses.Value("401"); r == nil || r.Value.Headers["WWW-Authenticate"] == nil {
		t.Error("execute 401 has no WWW-Authenticate header")
	}

	key := doc.Components.SecuritySchemes["ApiKeyAuth"]
	if key == nil || key.Value.Type != "apiKey" || key.Value.In != "header" || key.Value.Name != "X-API-Key" {
		t.Errorf("ApiKeyAuth = %+v", key)
	}
	if doc.Components.SecuritySchemes["BearerAuth"] != nil {
		t.Error("BearerAuth is defined, but the spec has no jwt")
	}
	if len(doc.Security) != 1 || doc.Security[0]["ApiKeyAuth"] == nil {
		t.Errorf("global security = %v", doc.Security)
	}
	health := doc.Paths.Value("/healthz").Get
	if health.Security == nil || len(*health.Security) != 0 {
		t.Errorf("health security = %v, want []", health.Security)
	}
	if health.Responses.Value("401") != nil || health.Responses.Value("403") != nil {
		t.Error("health answers 401/403")
	}
	if !bytes.Contains(js, []byte(`"security": []`)) {
		t.Error(`the JSON has no "security": [] for health`)
	}

	graph := doc.Paths.Value("/pipelines/{pipeline_id}/graph").Get
	var format *openapi3.Parameter
	for _, p := range graph.Parameters {
		if p.Value.Name == "format" {
			format = p.Value
		}
	}
	if format == nil || !slices.Equal(format.Schema.Value.Enum, []any{"json", "mermaid", "dot", "svg"}) {
		t.Errorf("graph format parameter = %+v", format)
	}
	if ok := graph.Responses.Value("200").Value; ok.Content["image/svg+xml"] == nil || ok.Content["image/svg+xml"].Examples["secure_demo_pipeline"] == nil {
		t.Error("the graph's 200 response has no image/svg+xml content with an example")
	}
	cancel := doc.Paths.Value("/runs/{run_id}/cancel").Post
	for _, code := range []string{"200", "401", "403", "404", "409", "429", "500"} {
		if cancel.Responses.Value(code) == nil {
			t.Errorf("cancel_run has no %s response", code)
		}
	}
	runs := doc.Paths.Value("/runs").Get
	for _, p := range runs.Parameters {
		if p.Value.Name == "limit" {
			s := p.Value.Schema.Value
			if *s.Min != 1 || *s.Max != 200 {
				t.Errorf("limit is %v..%v, want 1..200", *s.Min, *s.Max)
			}
		}
	}
}

// TestJWT checks the bearer scheme of a spec that uses JWT.
func TestJWT(t *testing.T) {
	m := load(t, "../../specs/etl.yaml")
	doc, err := Document(m)
	if err != nil {
		t.Fatal(err)
	}
	b := doc.Components.SecuritySchemes["BearerAuth"]
	if b == nil || b.Value.Type != "http" || b.Value.Scheme != "bearer" || b.Value.BearerFormat != "JWT" {
		t.Errorf("BearerAuth = %+v", b)
	}
	if doc.Components.SecuritySchemes["ApiKeyAuth"] != nil {
		t.Error("ApiKeyAuth is defined, but the spec has no api_key")
	}
	// Customer? is a nullable reference.
	c := doc.Components.Schemas["EnrichedOrder"].Value.Properties["customer"].Value
	if !c.Nullable || len(c.AllOf) != 1 || c.AllOf[0].Ref != schemaRefPrefix+"Customer" {
		t.Errorf("EnrichedOrder.customer = %+v", c)
	}
	amount := doc.Components.Schemas["Order"].Value.Properties["amount_cents"].Value
	if amount.Format != "int64" || amount.Min == nil || *amount.Min != 0 {
		t.Errorf("Order.amount_cents = %+v", amount)
	}
	revenue := doc.Components.Schemas["Metrics"].Value.Properties["revenue_cents"].Value
	if revenue.AdditionalProperties.Schema == nil || revenue.AdditionalProperties.Schema.Value.Format != "int64" {
		t.Errorf("Metrics.revenue_cents = %+v", revenue)
	}
	placed := doc.Components.Schemas["Order"].Value.Properties["placed_at"].Value
	checksum := doc.Components.Schemas["LoadReport"].Value.Properties["checksum"].Value
	if placed.Format != "date-time" || checksum.Format != "byte" {
		t.Errorf("time is %q, bytes %q", placed.Format, checksum.Format)
	}
}

// open is a spec without security whose names collide with the shared
// schemas, with every kind of type and constraint.
const open = `taskwire: 1
package: open
types:
  Run:
    description: The user's own Run.
    fields:
      id: {type: string, description: The id.}
  Problem:
    fields:
      note: string?
      child: Problem?
      kids: "[]Problem"
      anything: any?
      scores: {type: "map[string]float64", min_length: 1, max_length: 5}
      ratio: {type: float64, min: 0.5, max: 1}
      level: {type: "string?", enum: [low, high]}
tasks:
  step:
    inputs:
      run: {type: Run, description: Which run.}
      code: {type: string, pattern: "^[A-Z]{3}-[0-9]{2}$"}
      blob: {type: bytes, min_length: 1, max_length: 4}
      tags: {type: "[]string", min_length: 2, max_length: 3}
      count: {type: int, min: -5, max: -1}
      when: time?
    output: out
    type: Problem
pipelines:
  pipeline:
    tasks: [step]
`

func TestOpenAndCollisions(t *testing.T) {
	m := loadData(t, "open.yaml", []byte(open))
	js, err := JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	doc := reload(t, "open", js)
	if len(doc.Security) != 0 || doc.Components.SecuritySchemes != nil {
		t.Errorf("security without a security section: %v %v", doc.Security, doc.Components.SecuritySchemes)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Security == nil || len(*op.Security) != 0 || op.Responses.Value("401") != nil || op.Responses.Value("403") != nil || op.Responses.Value("429") != nil {
				t.Errorf("%s: security other than [], or 401, 403 or 429, without security", op.OperationID)
			}
		}
	}
	s := doc.Components.Schemas
	if s["Run"].Value.Description != "The user's own Run." || s["TaskwireRun"] == nil || s["TaskwireProblem"] == nil {
		t.Fatal("the spec's Run and Problem do not keep their names, or the shared ones were not renamed")
	}
	if ref := doc.Paths.Value("/runs/{run_id}").Get.Responses.Value("200").Value.Content.Get("application/json").Schema.Ref; ref != schemaRefPrefix+"TaskwireRun" {
		t.Errorf("get_run answers %s", ref)
	}
	if ref := doc.Components.Responses["NotFound"].Value.Content.Get("application/problem+json").Schema.Ref; ref != schemaRefPrefix+"TaskwireProblem" {
		t.Errorf("errors are %s", ref)
	}
	p := s["Problem"].Value
	if p.Properties["anything"].Value.Type != nil || p.Properties["anything"].Value.Nullable {
		t.Errorf("any is %+v, want the empty schema", p.Properties["anything"].Value)
	}
	if lv := p.Properties["level"].Value; !lv.Nullable || !slices.Equal(lv.Enum, []any{"low", "high", nil}) {
		t.Errorf("optional enum = %+v", lv)
	}
	if sc := p.Properties["scores"].Value; sc.MinProps != 1 || *sc.MaxProps != 5 || sc.AdditionalProperties.Schema.Value.Format != "double" {
		t.Errorf("scores = %+v", sc)
	}
	in := s["PipelineInput"].Value
	if tags := in.Properties["tags"].Value; tags.MinItems != 2 || *tags.MaxItems != 3 {
		t.Errorf("tags = %+v", tags)
	}
	if blob := in.Properties["blob"].Value; blob.MinLength != 4 || *blob.MaxLength != 8 {
		t.Errorf("blob (1..4 bytes) = %+v, want base64 length 4..8", blob)
	}
	if run := in.Properties["run"].Value; run.Description != "Which run." || run.AllOf[0].Ref != schemaRefPrefix+"Run" {
		t.Errorf("a described reference = %+v", run)
	}
	if !slices.Equal(in.Required, []string{"run", "code", "blob", "tags", "count"}) {
		t.Errorf("required = %v", in.Required)
	}
	ex := doc.Paths.Value("/pipelines/pipeline/execute").Post.RequestBody.Value.Content.Get("application/json").Example.(map[string]any)
	if ex["code"] != "AAA-00" || ex["count"] != -5.0 || len(ex["tags"].([]any)) != 2 {
		t.Errorf("example body = %v", ex)
	}
}

func TestPatternExample(t *testing.T) {
	for pattern, want := range map[string]string{
		"^[A-Z]{3}$":       "AAA",
		"^https://":        "https://",
		"^[a-z_]+$":        "a",
		`^\d{4}-\d{2}$`:    "0000-00",
		"^(foo|bar)+baz?$": "fooba",
		"x*":               "",
	} {
		got, ok := patternExample(pattern)
		if !ok || got != want {
			t.Errorf("patternExample(%q) = %q, %v; want %q", pattern, got, ok, want)
		}
	}
	if _, ok := stringExample(model.Constraints{Pattern: "^a$", MinLength: ptr(3)}); ok {
		t.Error("an impossible string has an example")
	}
}

// BenchmarkJSON measures building, validating and encoding a document.
func BenchmarkJSON(b *testing.B) {
	data, err := os.ReadFile("../../specs/etl.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m, _ := model.Load("etl.yaml", data)
	for b.Loop() {
		if _, err := JSON(m); err != nil {
			b.Fatal(err)
		}
	}
}
