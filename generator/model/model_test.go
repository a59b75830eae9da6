package model

import (
	"os"
	"strings"
	"testing"
	"time"

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
		if r.RateLimit != nil {
			rates[r.OperationID] = r.RateLimit.Text
		} else {
			rates[r.OperationID] = "none"
		}
	}
	want := map[string]string{
		"list_pipelines": "100/minute", "get_pipeline": "60/minute", "execute_secure_demo_pipeline": "10/minute",
		"get_run": "60/minute", "health": "none", "openapi": "60/minute",
	}
	for op, w := range want {
		if rates[op] != w {
			t.Errorf("rate of %s = %s, want %s", op, rates[op], w)
		}
	}
	if len(m.Routes) != 11 {
		t.Errorf("%d routes, want 11", len(m.Routes))
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
	if m.Pipeline("etl_nightly").RateLimit.Text != "4/hour" || m.Pipeline("etl_preview").RateLimit.Text != "10/minute" {
		t.Errorf("execute limits = %v %v", m.Pipeline("etl_nightly").RateLimit, m.Pipeline("etl_preview").RateLimit)
	}
	sec := m.Security
	if !sec.Has(AuthJWT) || sec.Has(AuthAPIKey) || sec.JWT.RoleClaim != "roles" || sec.JWT.Leeway != 30*time.Second || sec.JWT.SecretEnv != "ETL_JWT_SECRET" {
		t.Errorf("jwt = %+v", sec.JWT)
	}
	if len(sec.TrustedProxies) != 2 || sec.TrustedProxies[1].String() != "fd00::/8" || !sec.RequireHTTPS {
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
	if got := fieldNames(p.Inputs); got != "document:string,max_sections:int,style:string,title:string,format:string" {
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
	for in, want := range map[string]string{"ok": "Ok", "in-progress": "InProgress", "2xx": "V2xx", "": "Empty", "a b": "AB"} {
		if got := enumConstName(in); got != want {
			t.Errorf("enumConstName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{"10/minute": {10, time.Minute, "10/minute"}, "1/second": {1, time.Second, "1/second"}, "5/day": {5, 24 * time.Hour, "5/day"}} {
		r, err := ParseRate(in)
		if err != nil || *r != want {
			t.Errorf("ParseRate(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"", "0/minute", "10/minutes", "10 / minute", "-1/second", "1e3/hour", "99999999999/second", "/minute"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
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
