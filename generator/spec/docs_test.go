// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// TestSpecReferenceCoversEveryKey keeps docs/spec.md in step with the parser
// (and so with the JSON Schema, which schema_test.go ties to the same tables):
// every key each mapping of the format accepts must appear in the reference,
// written in backticks as in the YAML.
func TestSpecReferenceCoversEveryKey(t *testing.T) {
	const path = "../../docs/spec.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the spec reference: %v", err)
	}
	doc := string(data)
	known := KnownKeys()
	places := make([]string, 0, len(known))
	for place := range known {
		places = append(places, place)
	}
	sort.Strings(places)
	for _, place := range places {
		where := place
		if where == "" {
			where = "the root"
		}
		for _, key := range known[place] {
			if !strings.Contains(doc, "`"+key+"`") {
				t.Errorf("%s does not document key `%s` of %s", path, key, where)
			}
		}
	}
	// Keys that hold a literal API key are refused, and the reference says so.
	for _, key := range literalKeyKeys {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("%s does not name `%s`, a key refused as a literal API key", path, key)
		}
	}
}
