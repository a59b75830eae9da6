// SPDX-License-Identifier: Apache-2.0

package golang

import (
	"testing"

	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/internal/specgen"
)

// BenchmarkGenerateLarge generates the Go files (rendered and formatted by
// jennifer) and the OpenAPI document of a 1,000-task, 200-pipeline spec.
func BenchmarkGenerateLarge(b *testing.B) {
	m, ds := model.Load("large.yaml", specgen.Large(200, 5))
	if m == nil {
		b.Fatalf("large spec is invalid: %v", ds[:min(3, len(ds))])
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		files, err := Gen(m)
		if err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, f := range files {
			size += len(f.Content)
		}
	}
	b.ReportMetric(float64(size), "out-bytes")
}
