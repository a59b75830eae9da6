// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/taskwire/taskwire/runtime"
)

// benchInFlight is the number of runs kept in flight by the benchmark's
// API engine.
const benchInFlight = 256

// benchWorkerConc is the executions each worker process runs at once.
const benchWorkerConc = 64

// chainTasks is the number of tasks of noop3, the benchmark's pipeline.
const chainTasks = 3

// runPipelines runs noop3 (a chain of three no-op tasks) b.N times with
// benchInFlight runs in flight and reports tasks/s, and the CPU time all
// the processes of the deployment (this one, with nats-server embedded,
// and pids) spent per task: on a busy machine throughput drifts, the CPU
// cost of a task much less.
func runPipelines(b *testing.B, e *runtime.Engine, s *server.Server, pids ...int) {
	ctx := context.Background()
	msgs0 := serverMsgs(s)
	inputs := map[string]any{"in": 1}
	b.SetParallelism(max(benchInFlight/runtimeGOMAXPROCS(), 1))
	cpu0 := cpuSeconds(append([]int{os.Getpid()}, pids...))
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
	b.StopTimer()
	tasks := float64(b.N * chainTasks)
	b.ReportMetric(tasks/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric((cpuSeconds(append([]int{os.Getpid()}, pids...))-cpu0)*1e6/tasks, "cpu-µs/task")
	if s != nil {
		b.ReportMetric(float64(serverMsgs(s)-msgs0)/tasks, "nats-msgs/task")
	}
	b.ReportMetric(0, "ns/op")
}

// serverMsgs counts the messages the server has received and sent (every
// publish, request, reply, ack and delivery): per task, a count of the
// round trips that the load of the machine does not change.
func serverMsgs(s *server.Server) int64 {
	if s == nil {
		return 0
	}
	v, err := s.Varz(nil)
	if err != nil {
		return 0
	}
	return v.InMsgs + v.OutMsgs
}

// latency runs noop3 one run at a time (light load) and reports the p50
// and p99 of a run's latency.
func latency(b *testing.B, e *runtime.Engine) {
	ctx := context.Background()
	inputs := map[string]any{"in": 1}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		r, err := e.Run(ctx, "noop3", inputs, runtime.StartOptions{})
		if err != nil || r.Status != runtime.RunSucceeded {
			b.Fatalf("run: %v %v", r, err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkThroughput compares pipeline throughput in memory with
// JetStream (file storage) and one or two worker processes (the API engine
// in this process, WithWorkers(0)), with BenchmarkRawJetStream as the
// baseline: run both in one go test invocation and compare tasks/s with
// msgs/s.
func BenchmarkThroughput(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		// Quiet: the test registry's map tasks ask for more slots than the
		// default, which the engine would say at its start.
		e := runtime.New(testRegistry(b.TempDir()), runtime.WithLogger(slog.New(slog.DiscardHandler)))
		defer e.Shutdown(context.Background())
		runPipelines(b, e, nil)
	})
	s := startServer(b)
	dir := b.TempDir()
	_, api := openAPI(b, s.ClientURL(), dir)
	w1 := startWorker(b, s.ClientURL(), dir, benchWorkerConc)
	b.Run("jetstream-1worker", func(b *testing.B) { runPipelines(b, api, s, w1.pid()) })
	w2 := startWorker(b, s.ClientURL(), dir, benchWorkerConc)
	b.Run("jetstream-2workers", func(b *testing.B) { runPipelines(b, api, s, w1.pid(), w2.pid()) })
	b.Run("jetstream-latency", func(b *testing.B) { latency(b, api) })
}

// BenchmarkMap runs a map over 1,000 and 10,000 items, from a pipeline
// input (map_input) and from a task (map_task), mapConc elements at once,
// with the API engine in this process and two worker processes, and
// reports the time per item: linear maps keep it flat as the list grows.
func BenchmarkMap(b *testing.B) {
	s := startServer(b)
	dir := b.TempDir()
	_, api := openAPI(b, s.ClientURL(), dir)
	pids := []int{startWorker(b, s.ClientURL(), dir, mapConc).pid(), startWorker(b, s.ClientURL(), dir, mapConc).pid()}
	ctx := context.Background()
	for _, id := range []string{"map_input", "map_task"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", id, n), func(b *testing.B) {
				inputs := mapInputs(id, n)
				cpu0 := cpuSeconds(append([]int{os.Getpid()}, pids...))
				for b.Loop() {
					r, err := api.Run(ctx, id, inputs, runtime.StartOptions{})
					if err != nil || r.Status != runtime.RunSucceeded {
						b.Fatalf("run: %v %v", r, err)
					}
					if outs, err := runtime.Output[[]int](r, "outs"); err != nil || len(outs) != n || outs[n-1] != n-1 {
						b.Fatalf("outs: %d items, %v", len(outs), err)
					}
				}
				items := float64(b.N * n)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/items, "ns/item")
				b.ReportMetric((cpuSeconds(append([]int{os.Getpid()}, pids...))-cpu0)*1e6/items, "cpu-µs/item")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// cpuSeconds returns the user and system CPU time the processes pids have
// used, from /proc (0 where it cannot be read).
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) start after ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return float64(ticks) / 100 // USER_HZ
}

func runtimeGOMAXPROCS() int { return goruntime.GOMAXPROCS(0) }
