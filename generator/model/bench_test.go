// SPDX-License-Identifier: Apache-2.0

package model

import (
	"testing"

	"github.com/taskwire/taskwire/internal/specgen"
)

func TestLargeSpecIsValid(t *testing.T) {
	m, ds := Load("large.yaml", specgen.Large(200, 5))
	if m == nil || len(ds) != 0 {
		t.Fatalf("large spec: %d diagnostics, first %v", len(ds), ds[:min(3, len(ds))])
	}
	if len(m.Tasks) != 1000 || len(m.Pipelines) != 200 || m.Pipelines[7].Tasks[0].Name != "p7_t0" {
		t.Fatalf("large spec resolved to %d tasks, %d pipelines", len(m.Tasks), len(m.Pipelines))
	}
}

// BenchmarkValidateLarge parses and resolves a 1,000-task, 200-pipeline spec.
func BenchmarkValidateLarge(b *testing.B) {
	data := specgen.Large(200, 5)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := Load("large.yaml", data); m == nil {
			b.Fatal("invalid")
		}
	}
}
