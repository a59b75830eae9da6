// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"testing"

	"github.com/taskwire/taskwire/runtime"
)

// benchConcurrency is the number of runs kept in flight (GOMAXPROCS times
// this many goroutines each run pipelines back to back).
const benchConcurrency = 16

// benchWorkerConc is the executions each worker process runs at once.
const benchWorkerConc = 8

// runPipelines runs noop3 (a chain of three no-op tasks) b.N times with
// many runs in flight and reports runs/s.
func runPipelines(b *testing.B, e *runtime.Engine) {
	ctx := context.Background()
	inputs := map[string]any{"in": 1}
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := e.Run(ctx, "noop3", inputs, runtime.StartOptions{})
			if err != nil || r.Status != runtime.RunSucceeded {
				b.Errorf("run: %v %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// BenchmarkThroughput compares pipeline throughput in memory with
// JetStream and one or two worker processes (the API engine in this
// process, WithWorkers(0)).
func BenchmarkThroughput(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		e := runtime.New(testRegistry(b.TempDir()))
		defer e.Shutdown(context.Background())
		runPipelines(b, e)
	})
	s := startServer(b)
	dir := b.TempDir()
	_, api := openAPI(b, s.ClientURL(), dir)
	startWorker(b, s.ClientURL(), dir, benchWorkerConc)
	b.Run("jetstream-1worker", func(b *testing.B) { runPipelines(b, api) })
	startWorker(b, s.ClientURL(), dir, benchWorkerConc)
	b.Run("jetstream-2workers", func(b *testing.B) { runPipelines(b, api) })
}
