// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// DocVariants is the number of filtered API documents s keeps.
func DocVariants(s *Server) int {
	s.docsMu.Lock()
	defer s.docsMu.Unlock()
	return len(s.docsVariants)
}

func TestNamesWord(t *testing.T) {
	for _, c := range []struct {
		s, id string
		want  bool
	}{
		{"report", "report", true},
		{`"execute_report";q=30;w=3600`, "report", true},
		{`"execute_report_daily";q=30`, "report", false},
		{"xreport", "report", false},
		{"report2", "report", false},
		{"a report, then", "report", true},
		{"reports and report_daily", "report", false},
	} {
		if got := namesWord(c.s, c.id); got != c.want {
			t.Errorf("namesWord(%q, %q) = %v, want %v", c.s, c.id, got, c.want)
		}
	}
}

// A schema field called "example" or "examples" is a field, not an
// example: filtering keeps it.
func TestFilterDocKeepsFieldsNamedExample(t *testing.T) {
	full := []byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{
	  "/pipelines/a/execute":{"post":{"operationId":"execute_a","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/AInput"}}}},"responses":{"200":{"description":"ok"}}}},
	  "/pipelines/b/execute":{"post":{"operationId":"execute_b","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/BInput"}}}},"responses":{"200":{"description":"ok"}}}}},
	  "components":{"schemas":{
	    "AInput":{"type":"object","required":["example"],"properties":{"example":{"type":"string","description":"names b"},"examples":{"type":"string"}}},
	    "BInput":{"type":"object","properties":{"x":{"$ref":"#/components/schemas/Shared"}}},
	    "Shared":{"type":"string"},
	    "Unused":{"type":"string"}}}}`)
	out, err := filterDoc(full, []string{"a"}, []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]any
		Components struct{ Schemas map[string]map[string]any }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/pipelines/b/execute"]; ok || len(doc.Paths) != 1 {
		t.Errorf("paths %v", doc.Paths)
	}
	props, _ := doc.Components.Schemas["AInput"]["properties"].(map[string]any)
	if props["example"] == nil || props["examples"] == nil {
		t.Errorf("AInput lost a field: %v", doc.Components.Schemas["AInput"])
	}
	if doc.Components.Schemas["BInput"] != nil || doc.Components.Schemas["Shared"] != nil {
		t.Error("b's schemas stay")
	}
	if doc.Components.Schemas["Unused"] == nil {
		t.Error("a schema nothing referenced before is dropped too")
	}
}

// BenchmarkFilterDoc filters a generated document of two pipelines, the
// work of the first request of a set of readable pipelines.
func BenchmarkFilterDoc(b *testing.B) {
	full, err := os.ReadFile(filepath.Join("..", "..", "testdata", "generate", "map_reduce", "want", "taskwire_openapi_gen.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filterDoc(full, []string{"report_sections"}, []string{"report_daily"}); err != nil {
			b.Fatal(err)
		}
	}
}
