// SPDX-License-Identifier: Apache-2.0

package model

import "github.com/taskwire/taskwire/runtime"

// Descriptor returns p as the runtime describes a pipeline: the one
// description that generated code emits and that the engine, the HTTP layer
// and the graph renderers read. Its Input schema is left nil: generated
// code points it at the input struct's schema variable.
func (p *Pipeline) Descriptor() runtime.Pipeline {
	d := runtime.Pipeline{
		ID:          p.Name,
		Description: p.Description,
		Inputs:      descriptorFields(p.Inputs),
		Outputs:     descriptorFields(p.Outputs),
		Timeout:     p.Timeout,
		Retention:   runtime.Retention{MaxAge: p.Retention.MaxAge, MaxRuns: p.Retention.MaxRuns},
	}
	for _, t := range p.Tasks {
		rt := runtime.Task{
			Name:    t.Name,
			Output:  t.Output,
			Timeout: t.Timeout,
			Retry:   runtime.RetryPolicy{Attempts: t.Retry.Attempts, Backoff: t.Retry.Backoff, MaxBackoff: t.Retry.MaxBackoff},
			Map:     t.Map,
		}
		for _, in := range t.Inputs {
			rt.Inputs = append(rt.Inputs, in.Name)
		}
		if t.OutputType != nil {
			rt.Type = t.OutputType.String()
		}
		if t.Map != "" {
			rt.MapConcurrency = t.Concurrency
		}
		d.Tasks = append(d.Tasks, rt)
	}
	return d
}

func descriptorFields(fs []*Field) []runtime.Field {
	var out []runtime.Field
	for _, f := range fs {
		out = append(out, runtime.Field{Name: f.Name, Type: f.Type.String(), Required: !f.Type.Optional})
	}
	return out
}
