// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"fmt"
	"testing"
)

// The benchmarks compare running no-op pipelines through the engine with
// calling the same task functions directly; per-task overhead is
// (engine ns/op - direct ns/op) / tasks.

func noopTask(_ context.Context, in Inputs) (any, error) {
	n := 0
	for _, v := range in.vals {
		x, err := Decode[int](v)
		if err != nil {
			return nil, err
		}
		n += x
	}
	return n % 128, nil
}

// chainPipeline is t0 -> t1 -> ... -> t(n-1), t0 reading the pipeline input.
func chainPipeline(n int) Pipeline {
	p := Pipeline{ID: fmt.Sprintf("chain%d", n), Inputs: fieldsOf("in")}
	prev := "in"
	for i := range n {
		out := fmt.Sprintf("v%d", i)
		p.Tasks = append(p.Tasks, Task{Name: fmt.Sprintf("t%d", i), Inputs: []string{prev}, Output: out})
		prev = out
	}
	p.Outputs = fieldsOf(prev)
	return p
}

// diamondPipeline is src -> (w0 .. w(width-1)) -> sink: width+2 tasks.
func diamondPipeline(width int) Pipeline {
	p := Pipeline{ID: fmt.Sprintf("diamond%d", width), Inputs: fieldsOf("in")}
	p.Tasks = append(p.Tasks, Task{Name: "src", Inputs: []string{"in"}, Output: "s"})
	var mids []string
	for i := range width {
		out := fmt.Sprintf("m%d", i)
		mids = append(mids, out)
		p.Tasks = append(p.Tasks, Task{Name: fmt.Sprintf("w%d", i), Inputs: []string{"s"}, Output: out})
	}
	p.Tasks = append(p.Tasks, Task{Name: "sink", Inputs: mids, Output: "out"})
	p.Outputs = fieldsOf("out")
	return p
}

func benchRegistry(b *testing.B, p Pipeline) *Registry {
	reg := NewRegistry()
	for _, t := range p.Tasks {
		if err := reg.RegisterTask(t.Name, noopTask); err != nil {
			b.Fatal(err)
		}
	}
	if err := reg.RegisterPipeline(p); err != nil {
		b.Fatal(err)
	}
	return reg
}

func benchEngine(b *testing.B, p Pipeline) {
	reg := benchRegistry(b, p)
	e := New(reg)
	defer e.Shutdown(context.Background())
	ctx := context.Background()
	inputs := map[string]any{"in": 1}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Run(ctx, p.ID, inputs, StartOptions{})
		if err != nil || r.Status != RunSucceeded {
			b.Fatalf("run: %v %v", r, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

func benchEngineParallel(b *testing.B, p Pipeline) {
	reg := benchRegistry(b, p)
	e := New(reg)
	defer e.Shutdown(context.Background())
	inputs := map[string]any{"in": 1}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			r, err := e.Run(ctx, p.ID, inputs, StartOptions{})
			if err != nil || r.Status != RunSucceeded {
				b.Errorf("run: %v %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// benchDirect calls the task functions in topological (definition) order,
// with the same inputs, without the engine.
func benchDirect(b *testing.B, p Pipeline) {
	ctx := context.Background()
	vals := make(map[string]Value, len(p.Tasks)+1)
	ins := make([][]Value, len(p.Tasks))
	for i, t := range p.Tasks {
		ins[i] = make([]Value, len(t.Inputs))
	}
	b.ReportAllocs()
	for b.Loop() {
		vals["in"] = ValueOf(1)
		for i, t := range p.Tasks {
			for k, name := range t.Inputs {
				ins[i][k] = vals[name]
			}
			out, err := noopTask(ctx, Inputs{names: t.Inputs, vals: ins[i], index: -1, attempt: 1})
			if err != nil {
				b.Fatal(err)
			}
			vals[t.Output] = ValueOf(out)
		}
	}
}

func BenchmarkChain10Engine(b *testing.B)           { benchEngine(b, chainPipeline(10)) }
func BenchmarkChain10Direct(b *testing.B)           { benchDirect(b, chainPipeline(10)) }
func BenchmarkChain10EngineParallel(b *testing.B)   { benchEngineParallel(b, chainPipeline(10)) }
func BenchmarkDiamond10Engine(b *testing.B)         { benchEngine(b, diamondPipeline(8)) }
func BenchmarkDiamond10Direct(b *testing.B)         { benchDirect(b, diamondPipeline(8)) }
func BenchmarkDiamond10EngineParallel(b *testing.B) { benchEngineParallel(b, diamondPipeline(8)) }

// mapPipelines registers two pipelines that run the task "each" (a no-op
// returning its element) once per element of a list of n ints: "map_input"
// maps over the pipeline input "items", "map_task" over the list the task
// "make" produces from the pipeline input "n".
func mapPipelines(reg *Registry, conc int) error {
	each := func(_ context.Context, in Inputs) (any, error) {
		x, err := Input[int](in, "items")
		return x, err
	}
	mk := func(_ context.Context, in Inputs) (any, error) {
		n, err := Input[int](in, "n")
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		return items, err
	}
	for _, err := range []error{
		reg.RegisterTask("each", each),
		reg.RegisterTask("make", mk),
		reg.RegisterPipeline(Pipeline{ID: "map_input", Inputs: fieldsOf("items"), Tasks: []Task{
			{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
		}}),
		reg.RegisterPipeline(Pipeline{ID: "map_task", Inputs: fieldsOf("n"), Tasks: []Task{
			{Name: "make", Inputs: []string{"n"}, Output: "items"},
			{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
		}}),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// mapInputs returns the inputs of a run of pipeline id over n items: for
// map_input, the list as raw JSON, as an execute request body carries it.
func mapInputs(id string, n int) map[string]any {
	if id == "map_task" {
		return map[string]any{"n": n}
	}
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", i)
	}
	return map[string]any{"items": RawJSON(append(b, ']'))}
}

// BenchmarkMap runs a map over 1,000 and 10,000 items, from a pipeline
// input and from a task, in memory with 16 elements at once, and reports
// the time per item: linear maps keep it flat as the list grows.
func BenchmarkMap(b *testing.B) {
	const conc = 16
	for _, id := range []string{"map_input", "map_task"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", id, n), func(b *testing.B) {
				reg := NewRegistry()
				if err := mapPipelines(reg, conc); err != nil {
					b.Fatal(err)
				}
				e := New(reg, WithWorkers(conc))
				defer e.Shutdown(context.Background())
				ctx := context.Background()
				inputs := mapInputs(id, n)
				for b.Loop() {
					r, err := e.Run(ctx, id, inputs, StartOptions{})
					if err != nil || r.Status != RunSucceeded {
						b.Fatalf("run: %v %v", r, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
