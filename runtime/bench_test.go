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
