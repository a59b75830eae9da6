// SPDX-License-Identifier: Apache-2.0

package model

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/runtime/audit"
)

func load(t *testing.T, path string) *Model {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, ds := Load(path, data)
	if m == nil {
		t.Fatalf("%s is invalid: %v", path, ds)
	}
	return m
}

func names[T any](items []T, name func(T) string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return strings.Join(out, ",")
}

func fieldNames(fs []*Field) string {
	return names(fs, func(f *Field) string { return f.Name + ":" + f.Type.String() })
}
func taskNames(ts []*Task) string { return names(ts, func(t *Task) string { return t.Name }) }

func TestSecureDemoModel(t *testing.T) {
	m := load(t, "../../specs/secure_demo.yaml")
	if m.Package != "securedemo" || m.Service.Title != "Secure Taskiq-Flow API" || m.Service.Version != "0.4.5" {
		t.Errorf("header: %+v %q", m.Service, m.Package)
	}
	p := m.Pipeline("secure_demo_pipeline")
	if p == nil {
		t.Fatal("no pipeline")
	}
	if got := taskNames(p.Tasks); got != "process_data,validate_result" {
		t.Errorf("order = %s", got)
	}
	if got := fieldNames(p.Inputs); got != "data:string" {
		t.Errorf("inputs = %s", got)
	}
	if ml := p.Inputs[0].Type.Constraints.MaxLength; ml == nil || *ml != 10000 {
		t.Errorf("data max_length = %v", ml)
	}
	if got := fieldNames(p.Outputs); got != "validated:Validated" {
		t.Errorf("outputs = %s", got)
	}
	if len(p.Edges) != 1 || p.Edges[0].From.Name != "process_data" || p.Edges[0].To.Name != "validate_result" || p.Edges[0].Name != "result" {
		t.Errorf("edges = %+v", p.Edges)
	}
	if p.InputGoName != "SecureDemoPipelineInput" || p.HandleGoName != "SecureDemoPipelineRun" {
		t.Errorf("go names = %s %s", p.InputGoName, p.HandleGoName)
	}
	status := m.Type("Result").Fields[1].Type
	if status.EnumGoName != "ResultStatus" || len(status.Constraints.Enum) != 2 || status.Constraints.Enum[0].GoName != "ResultStatusOk" {
		t.Errorf("enum = %+v", status)
	}
	if note := m.Type("Result").Fields[2]; !note.Type.Optional || note.GoName != "Note" {
		t.Errorf("note = %+v", note)
	}
	pd := m.Task("process_data")
	if pd.Timeout != 30*time.Second || pd.Retry != (Retry{Attempts: 3, Backoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second}) {
		t.Errorf("process_data settings = %v %+v", pd.Timeout, pd.Retry)
	}
	if vr := m.Task("validate_result"); vr.Retry.Attempts != 1 || vr.Timeout != 0 {
		t.Errorf("validate_result defaults = %+v", vr.Retry)
	}

	sec := m.Security
	if !sec.Enabled || !sec.Has(AuthAPIKey) || sec.Has(AuthJWT) || sec.APIKeyHeader != "X-API-Key" {
		t.Errorf("security = %+v", sec)
	}
	if len(sec.Keys) != 2 || sec.Keys[0].ID != "admin_full" || sec.Keys[0].Env != "TASKWIRE_KEY_ADMIN_FULL" || sec.Keys[1].Pipelines[0] != "report_*" {
		t.Errorf("keys = %+v", sec.Keys)
	}
	if got := strings.Join(sec.Roles, ","); got != "admin,viewer" {
		t.Errorf("roles = %s", got)
	}
	if len(sec.ACLs) != 2 || strings.Join(sec.ACLs[0].Grants[ActionRead], ",") != "admin,viewer" || sec.ACLs[1].Grants[ActionExecute] != nil {
		t.Errorf("acls = %+v", sec.ACLs)
	}
	if !sec.Audit.Enabled || sec.Audit.File != "audit.jsonl" || sec.Audit.MaxSize != DefaultAuditMaxSize ||
		sec.Audit.Sync != audit.Interval || sec.Audit.SyncInterval != audit.DefaultSyncInterval {
		t.Errorf("audit = %+v", sec.Audit)
	}

	rates := map[string]string{}
	for _, r := range m.Routes {
		if r.Limit != nil {
			rates[r.OperationID] = r.Limit.String()
		} else {
			rates[r.OperationID] = "none"
		}
	}
	want := map[string]string{
		"list_pipelines": "100/minute", "get_pipeline": "60/minute", "execute_secure_demo_pipeline": "10/minute",
		"get_run": "60/minute", "health": "none", "openapi": "60/minute",
		"console": "120/minute", "console_file": "120/minute", // their own, per client address
	}
	for op, w := range want {
		if rates[op] != w {
			t.Errorf("rate of %s = %s, want %s", op, rates[op], w)
		}
	}
	if len(m.Routes) != 17 || m.Routes[16].OperationID != "metrics" {
		t.Errorf("%d routes, want 17 and metrics last", len(m.Routes))
	}

	// Positions of what the model holds, for diagnostics about it (taskwire diff).
	at := func(what string, pos diag.Pos, line, col int) {
		t.Helper()
		if pos.File != "../../specs/secure_demo.yaml" || pos.Line != line || pos.Col != col {
			t.Errorf("%s at %v, want line %d column %d", what, pos, line, col)
		}
	}
	at("service", m.Service.Pos, 7, 1)
	at("security", sec.Pos, 49, 1)
	at("security.auth", sec.AuthPos, 51, 3)
	at("security.acls", sec.ACLsPos, 63, 3)
	at("api_key.header", sec.APIKeyPos, 53, 13)
	at("key admin_full", sec.Keys[0].Pos, 55, 5)
	at("ACL report_*", sec.ACLs[1].Pos, 65, 5)
	at("ACL * execute", sec.ACLs[0].GrantPos[ActionExecute], 64, 34)
	at("pipeline rate_limit", p.RateLimit.Pos, 47, 17)
	for _, r := range m.Routes {
		switch r.OperationID {
		case "list_pipelines":
			at("list_pipelines rate", m.RouteRate(r).Pos, 71, 30)
		case "get_run":
			at("default rate", m.RouteRate(r).Pos, 70, 14)
		case "console":
			if m.RouteRate(r) != nil {
				t.Error("the console's own limit is reported as one of the spec's")
			}
		}
	}
}

func TestETLModel(t *testing.T) {
	m := load(t, "../../specs/etl.yaml")
	p := m.Pipeline("etl_nightly")
	if got := taskNames(p.Tasks); got != "extract_orders,extract_customers,clean_orders,clean_customers,join_orders,load_warehouse,compute_metrics" {
		t.Errorf("order = %s", got)
	}
	// source_url is needed by two tasks and becomes one request field.
	if got := fieldNames(p.Inputs); got != "source_url:string,since:time,table:string,dry_run:bool?" {
		t.Errorf("inputs = %s", got)
	}
	if got := fieldNames(p.Outputs); got != "load_report:LoadReport,metrics:Metrics" {
		t.Errorf("outputs = %s", got)
	}
	if m.Pipeline("etl_nightly").RateLimit.String() != "4/hour" || m.Pipeline("etl_preview").RateLimit.String() != "10/minute" {
		t.Errorf("execute limits = %v %v", m.Pipeline("etl_nightly").RateLimit, m.Pipeline("etl_preview").RateLimit)
	}
	sec := m.Security
	if !sec.Has(AuthJWT) || sec.Has(AuthAPIKey) || sec.JWT.RoleClaim != "roles" || sec.JWT.Leeway != 30*time.Second || sec.JWT.SecretEnv != "ETL_JWT_SECRET" {
		t.Errorf("jwt = %+v", sec.JWT)
	}
	if len(sec.TrustedProxies) != 2 || sec.TrustedProxies[1].String() != "fd00::5/128" || !sec.RequireHTTPS {
		t.Errorf("proxies = %v", sec.TrustedProxies)
	}
	if f := m.Type("Order").Fields[1]; f.GoName != "CustomerID" || f.GoParam != "customerID" {
		t.Errorf("Go names of customer_id = %s %s", f.GoName, f.GoParam)
	}
}

func TestReportsMapModel(t *testing.T) {
	m := load(t, "../../specs/reports.yaml")
	s := m.Task("summarise_section")
	if s.Map != "sections" || s.Concurrency != 4 || s.OutputType.String() != "[]Summary" || s.ElemType.String() != "Summary" {
		t.Errorf("map task = map %q conc %d out %s elem %s", s.Map, s.Concurrency, s.OutputType, s.ElemType)
	}
	p := m.Pipeline("report_daily")
	if got := fieldNames(p.Inputs); got != "document:string,max_sections:int,style:string,title:string,format:ReportFormat" {
		t.Errorf("inputs = %s", got)
	}
	var mapEdges int
	for _, e := range p.Edges {
		if e.IsMap {
			mapEdges++
			if e.From.Name != "split_sections" || e.To.Name != "summarise_section" {
				t.Errorf("map edge = %s -> %s", e.From.Name, e.To.Name)
			}
		}
	}
	if mapEdges != 1 {
		t.Errorf("%d map edges", mapEdges)
	}
	// A map task fed by a pipeline input makes that input a list.
	data := `taskwire: 1
package: m
tasks:
  each: {inputs: {items: string}, map: items, output: out, type: int}
pipelines:
  p: {tasks: [each]}
security: {enabled: false}
`
	mm, ds := Load("m.yaml", []byte(data))
	if mm == nil {
		t.Fatal(ds)
	}
	if got := fieldNames(mm.Pipeline("p").Inputs); got != "items:[]string" {
		t.Errorf("map over pipeline input: inputs = %s", got)
	}
	if mm.Task("each").Concurrency != DefaultMapConcurrency {
		t.Errorf("default concurrency = %d", mm.Task("each").Concurrency)
	}
}

func TestGoNames(t *testing.T) {
	cases := map[string][2]string{
		"process_data": {"ProcessData", "processData"},
		"user_id":      {"UserID", "userID"},
		"id":           {"ID", "id"},
		"http_server":  {"HTTPServer", "httpServer"},
		"type":         {"Type", "type_"},
		"len":          {"Len", "len_"},
		"ctx":          {"Ctx", "ctx_"},
		"report1":      {"Report1", "report1"},
		"api_key_2":    {"APIKey2", "apiKey2"},
	}
	for in, want := range cases {
		if got := GoName(in); got != want[0] {
			t.Errorf("GoName(%q) = %q, want %q", in, got, want[0])
		}
		if got := goParam(in); got != want[1] {
			t.Errorf("goParam(%q) = %q, want %q", in, got, want[1])
		}
	}
	for in, want := range map[string]string{
		"ok": "Ok", "in-progress": "InProgress", "2xx": "V2xx", "": "Empty", "a b": "AB",
		// Initialisms are written in capitals, as in every other Go name.
		"html": "HTML", "HTML": "HTML", "Html": "HTML", "user_id": "UserID", "json-api": "JSONAPI", "url2": "Url2",
		"café": "Caf", "über": "Ber", "camelCase": "CamelCase",
	} {
		if got := enumConstName(in); got != want {
			t.Errorf("enumConstName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTypeSyntax(t *testing.T) {
	result := &Type{Name: "Result"}
	r := &resolver{m: &Model{Types: []*Type{result}, typesByName: map[string]*Type{"Result": result}}}
	for _, s := range []string{"string", "[]Result", "map[string][]int64", "[]map[string]any"} {
		tr, problem := r.parseBase(s, 0)
		if problem != "" || tr.String() != s {
			t.Errorf("parse %q = %v, %q", s, tr, problem)
		}
	}
	for s, want := range map[string]string{
		"strng":                          `did you mean "string"`,
		"map[int]string":                 "map keys must be string",
		"[]?string":                      "goes only at the end",
		"":                               "empty type",
		"Reslt":                          `did you mean "Result"`,
		strings.Repeat("[]", 40) + "int": "deeper than",
	} {
		if _, problem := r.parseBase(s, 0); !strings.Contains(problem, want) {
			t.Errorf("parse %q: problem %q, want it to mention %q", s, problem, want)
		}
	}
}

// A named enum is one type: every use refers to it, carries its values as
// an enum constraint and has its Go name.
func TestNamedEnum(t *testing.T) {
	m := load(t, "../../testdata/validate/ok_named_enum/taskwire.yaml")
	prio := m.Type("Priority")
	if prio == nil || !prio.IsEnum || len(prio.Fields) != 0 || len(prio.Enum) != 2 || prio.Enum[1].GoName != "PriorityHigh" {
		t.Fatalf("Priority = %+v", prio)
	}
	ticket := m.Type("Ticket")
	uses := []*TypeRef{ticket.Fields[0].Type, ticket.Fields[1].Type.Elem, ticket.Fields[2].Type, m.Task("open_ticket").Input("priority").Type, m.Task("rank").OutputType}
	for i, u := range uses {
		if u.Kind != String || u.Enum != prio || u.EnumGoName != "Priority" || len(u.Constraints.Enum) != 2 {
			t.Errorf("use %d of Priority = %+v", i, u)
		}
	}
	if got := fieldNames(ticket.Fields); got != "priority:Priority,history:[]Priority,escalation:Priority?" {
		t.Errorf("Ticket fields = %s", got)
	}
	if !uses[0].Same(uses[3]) || uses[0].Same(&TypeRef{Kind: String}) {
		t.Error("a named enum is the same type as itself, and not string")
	}
	if in := m.Task("open_ticket").Input("priority"); in.Description != "The ticket's priority." {
		t.Errorf("description of an input of a named enum = %q", in.Description)
	}
}

// The audit sync settings resolve to the model, defaults included.
func TestAuditSyncSettings(t *testing.T) {
	base := "taskwire: 1\npackage: p\ntasks:\n  t: {output: o, type: string}\npipelines:\n  p: {tasks: [t]}\nsecurity:\n  enabled: false\n  audit:\n"
	for _, c := range []struct {
		yaml     string
		mode     audit.SyncMode
		interval time.Duration
	}{
		{"    enabled: true\n", audit.Interval, audit.DefaultSyncInterval},
		{"    sync: interval\n    sync_interval: 250ms\n", audit.Interval, 250 * time.Millisecond},
		{"    sync: always\n", audit.Always, 0},
		{"    sync_interval: 10s\n", audit.Interval, 10 * time.Second},
		{"    sync_interval: 1ms\n", audit.Interval, time.Millisecond},
	} {
		m, ds := Load("a.yaml", []byte(base+c.yaml))
		if m == nil {
			t.Fatalf("%q: %v", c.yaml, ds)
		}
		if a := m.Security.Audit; a.Sync != c.mode || a.SyncInterval != c.interval {
			t.Errorf("%q: audit %+v, want %s every %s", c.yaml, a, c.mode, c.interval)
		}
	}
}

// The bounds of anonymous traffic resolve to the model: unset leaves the
// server's defaults, min_free: 0 turns the shedding off, and the anonymous
// limit holds whether or not the other limits are enabled.
func TestAnonymousSettings(t *testing.T) {
	base := "taskwire: 1\npackage: p\ntasks:\n  t: {output: o, type: string}\npipelines:\n  p: {tasks: [t]}\nsecurity:\n  enabled: false\n"
	for _, c := range []struct {
		yaml      string
		anonymous string
		minFree   int64
	}{
		{"  audit: {enabled: true}\n", "", 0},
		{"  rate_limits: {anonymous: 5/second}\n  audit: {min_free: 256MiB}\n", "5/second", 256 << 20},
		{"  rate_limits: {enabled: false, anonymous: 100/minute}\n  audit: {min_free: 0}\n", "100/minute", AuditMinFreeOff},
		{"  audit: {min_free: 0B}\n", "", AuditMinFreeOff},
		{"  audit: {min_free: 1GB}\n", "", 1e9},
	} {
		m, ds := Load("a.yaml", []byte(base+c.yaml))
		if m == nil {
			t.Fatalf("%q: %v", c.yaml, ds)
		}
		got := ""
		if a := m.Security.RateLimits.Anonymous; a != nil {
			got = a.String()
		}
		if got != c.anonymous || m.Security.Audit.MinFree != c.minFree {
			t.Errorf("%q: anonymous %q, min_free %d; want %q, %d", c.yaml, got, m.Security.Audit.MinFree, c.anonymous, c.minFree)
		}
	}
}

// The chain key's variable and the checkpoint interval resolve to the
// model; bad values are diagnostics.
func TestAuditAnchorSettings(t *testing.T) {
	base := "taskwire: 1\npackage: p\ntasks:\n  t: {output: o, type: string}\npipelines:\n  p: {tasks: [t]}\nsecurity:\n  enabled: false\n  audit:\n"
	m, ds := Load("a.yaml", []byte(base+"    key_env: TASKWIRE_AUDIT_KEY\n    checkpoint_interval: 30s\n"))
	if m == nil || m.Security.Audit.KeyEnv != "TASKWIRE_AUDIT_KEY" || m.Security.Audit.CheckpointInterval != 30*time.Second {
		t.Fatalf("%+v %v", m, ds)
	}
	if m, _ := Load("a.yaml", []byte(base+"    enabled: true\n")); m == nil || m.Security.Audit.KeyEnv != "" || m.Security.Audit.CheckpointInterval != audit.DefaultCheckpointInterval {
		t.Fatalf("defaults: %+v", m)
	}
	for yaml, want := range map[string]string{
		"    key_env: audit-key\n":          `security.audit.key_env "audit-key" is not an environment variable name`,
		"    checkpoint_interval: 100ms\n":  "security.audit.checkpoint_interval must be between 1s and 24h0m0s, not 100ms",
		"    checkpoint_interval: hourly\n": `security.audit.checkpoint_interval "hourly" is not a duration`,
	} {
		_, ds := Load("a.yaml", []byte(base+yaml))
		if !strings.Contains(fmt.Sprint(ds), want) {
			t.Errorf("%q: %v, want %q", yaml, ds, want)
		}
	}
}

// A pipeline's retention takes service.retention's keys it does not set.
func TestRetentionOverrides(t *testing.T) {
	spec := `taskwire: 1
package: p
service:
  retention: {max_age: 24h, max_runs: 500}
tasks:
  t: {output: o, type: string}
pipelines:
  inherits: {tasks: [t]}
  own_count: {tasks: [t], retention: {max_runs: 10}}
  own_both: {tasks: [t], retention: {max_age: 1h, max_runs: 3}}
`
	m, ds := Load("a.yaml", []byte(spec))
	if m == nil {
		t.Fatal(ds)
	}
	want := map[string]Retention{
		"inherits":  {MaxAge: 24 * time.Hour, MaxRuns: 500},
		"own_count": {MaxAge: 24 * time.Hour, MaxRuns: 10},
		"own_both":  {MaxAge: time.Hour, MaxRuns: 3},
	}
	for _, p := range m.Pipelines {
		if p.Retention != want[p.Name] {
			t.Errorf("%s: retention %+v, want %+v", p.Name, p.Retention, want[p.Name])
		}
		if d := p.Descriptor().Retention; d.MaxAge != want[p.Name].MaxAge || d.MaxRuns != want[p.Name].MaxRuns {
			t.Errorf("%s: descriptor retention %+v", p.Name, d)
		}
	}
	if m.Service.Retention != (Retention{MaxAge: 24 * time.Hour, MaxRuns: 500}) {
		t.Errorf("service retention %+v", m.Service.Retention)
	}
}
