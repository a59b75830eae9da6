// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// Keys of callers who may read one of the two report pipelines, or none.
const (
	dailyKey    = "sk_daily_0123456789abcdefghijklmnopqrstuvw"
	sectionsKey = "sk_sections_0123456789abcdefghijklmnopqrst"
	nothingKey  = "sk_nothing_0123456789abcdefghijklmnopqrstu"
)

// reportsDoc is the generated OpenAPI document of a spec with two
// pipelines, report_daily and report_sections, that share some types and
// not others.
func reportsDoc(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "testdata", "generate", "map_reduce", "want", "taskwire_openapi_gen.json"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// docFixture serves the two report pipelines with reportsDoc as the API
// document, and keys for one pipeline each and for none.
func docFixture(t *testing.T, doc []byte, security bool) *fixture {
	env := maps.Clone(testEnv)
	env["KEY_DAILY"], env["KEY_SECTIONS"], env["KEY_NOTHING"] = dailyKey, sectionsKey, nothingKey
	st := reportsSetup("report_daily", "report_sections")
	st.svc = func(svc *httpapi.Service) {
		svc.OpenAPI = doc
		svc.Security.Enabled = security
		svc.Security.Keys = append(svc.Security.Keys,
			httpapi.Key{ID: "daily_viewer", Env: "KEY_DAILY", Role: "viewer", Pipelines: []string{"report_daily"}},
			httpapi.Key{ID: "sections_viewer", Env: "KEY_SECTIONS", Role: "viewer", Pipelines: []string{"report_sections"}},
			httpapi.Key{ID: "nothing_viewer", Env: "KEY_NOTHING", Role: "viewer", Pipelines: []string{"unknown_*"}})
	}
	st.opts = []httpapi.Option{httpapi.WithGetenv(getenvFrom(env))}
	return newFixture(t, st)
}

// loadDoc validates an API document with kin-openapi, references resolved.
func loadDoc(t *testing.T, who string, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("%s: the document does not load: %v", who, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s: the document is invalid: %v", who, err)
	}
	return doc
}

// TestAPIDocumentPerCaller shows that /openapi.json and /docs show a
// caller only the pipelines it may read: the other pipeline's execute
// operation, its id and the types only it uses are gone, the shared ones
// stay, and each document is valid OpenAPI.
func TestAPIDocumentPerCaller(t *testing.T) {
	full := reportsDoc(t)
	f := docFixture(t, full, true)
	daily := []string{"ReportDailyInput", "ReportDailyOutput", "ReportDailyRunResult", "Report", "Summary", "ReportFormat"}
	sections := []string{"ReportSectionsInput", "ReportSectionsOutput", "ReportSectionsRunResult", "Section"}
	shared := []string{"TaskState", "Run", "Problem", "PipelineList"}
	cases := []struct {
		who, key             string
		pipelines, hiddenIDs []string
		gone, kept           []string
	}{
		{"admin", adminKey, []string{"report_daily", "report_sections"}, nil, nil, slices.Concat(daily, sections, shared)},
		{"daily viewer", dailyKey, []string{"report_daily"}, []string{"report_sections"}, sections, slices.Concat(daily, shared)},
		{"sections viewer", sectionsKey, []string{"report_sections"}, []string{"report_daily"}, daily, slices.Concat(sections, shared)},
		{"viewer of nothing", nothingKey, nil, nil, slices.Concat(daily, sections), shared},
	}
	for _, c := range cases {
		t.Run(c.who, func(t *testing.T) {
			r := f.want(t, req{path: "/openapi.json", headers: []string{key(c.key)}}, http.StatusOK)
			if c.who == "admin" && string(r.Body) != string(full) {
				t.Error("admin: the document differs from the generated one")
			}
			if vary := r.Header.Get("Vary"); !strings.Contains(vary, "Authorization") || !strings.Contains(vary, "X-Api-Key") {
				t.Errorf("Vary = %q, want the credential headers", vary)
			}
			doc := loadDoc(t, c.who, r.Body)
			for _, id := range []string{"report_daily", "report_sections"} {
				has := doc.Paths.Find("/pipelines/"+id+"/execute") != nil
				if want := slices.Contains(c.pipelines, id); has != want {
					t.Errorf("execute of %s in the document: %v, want %v", id, has, want)
				}
			}
			for _, name := range c.gone {
				if doc.Components.Schemas[name] != nil {
					t.Errorf("schema %s is still there", name)
				}
				if strings.Contains(string(r.Body), `"`+name+`"`) || strings.Contains(string(r.Body), `/`+name+`"`) {
					t.Errorf("the document still names %s", name)
				}
			}
			for _, name := range c.kept {
				if doc.Components.Schemas[name] == nil {
					t.Errorf("schema %s is gone", name)
				}
			}
			for _, id := range c.hiddenIDs {
				if strings.Contains(string(r.Body), id) {
					t.Errorf("the document still names pipeline %s", id)
				}
			}
			enum := doc.Components.Parameters["PipelineID"].Value.Schema.Value.Enum
			var ids []string
			for _, e := range enum {
				ids = append(ids, e.(string))
			}
			if !slices.Equal(ids, c.pipelines) {
				t.Errorf("pipeline_id enum %q, want %q", ids, c.pipelines)
			}
			// The same rule as GET /pipelines (which also lists the demo's
			// own pipeline, absent from this document).
			listed := slices.DeleteFunc(f.pipelines(t, key(c.key)), func(id string) bool { return id == "secure_demo_pipeline" })
			if !slices.Equal(listed, c.pipelines) {
				t.Errorf("GET /pipelines lists %q, the document %q", listed, c.pipelines)
			}

			again := f.want(t, req{path: "/openapi.json", headers: []string{key(c.key)}}, http.StatusOK)
			if string(again.Body) != string(r.Body) {
				t.Error("a second request got another document")
			}

			page := f.want(t, req{path: "/docs", headers: []string{key(c.key)}}, http.StatusOK)
			if page.Header.Get("Vary") == "" {
				t.Error("/docs has no Vary")
			}
			for _, id := range c.hiddenIDs {
				if strings.Contains(string(page.Body), id) {
					t.Errorf("/docs names pipeline %s", id)
				}
			}
			for _, id := range c.pipelines {
				if !strings.Contains(string(page.Body), "execute_"+id) {
					t.Errorf("/docs lacks execute_%s", id)
				}
			}
			for _, name := range c.gone {
				if strings.Contains(string(page.Body), `id="schema-`+name+`"`) {
					t.Errorf("/docs shows schema %s", name)
				}
			}
		})
	}
	// One kept document per set of readable pipelines: the admin's is the
	// generated one, the three viewers' are filtered.
	if n := httpapi.DocVariants(f.srv); n != 3 {
		t.Errorf("%d filtered documents kept, want 3", n)
	}
}

// TestAPIDocumentWithoutSecurity: with security off every caller reads
// every pipeline, and gets the document as generated.
func TestAPIDocumentWithoutSecurity(t *testing.T) {
	full := reportsDoc(t)
	f := docFixture(t, full, false)
	r := f.want(t, req{path: "/openapi.json"}, http.StatusOK)
	if string(r.Body) != string(full) {
		t.Error("the document differs from the generated one")
	}
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
}
