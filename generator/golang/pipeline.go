// SPDX-License-Identifier: Apache-2.0

package golang

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator/gocode"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime"
)

// PipelinesFile is the name of the file holding every pipeline. One file
// for all of them means that removing or renaming a pipeline deletes no
// file, which `go generate` could not cope with (it lists a package's files
// before running the directive).
const PipelinesFile = "taskwire_pipelines_gen.go"

// pipelineVar is the variable holding the descriptor of p.
func pipelineVar(p *model.Pipeline) string { return "pipeline" + p.GoName }

// pipelinesFile generates, for each pipeline, its input and output
// structs, its descriptor (the one description the engine, the HTTP layer
// and the graphs read), its typed handle and its one-call run.
func (g *gen) pipelinesFile() *jen.File {
	f := g.newFile()
	for _, p := range g.m.Pipelines {
		g.pipeline(f, p)
	}
	return f
}

func (g *gen) pipeline(f *jen.File, p *model.Pipeline) {
	in, out := p.InputGoName, p.OutputGoName

	addDoc(f, doc(in+" holds the inputs of pipeline "+p.Name+": the body of its execute request.", ""))
	f.Type().Id(in).Add(gocode.Struct(p.Inputs))
	addDoc(f, doc(out+" holds the outputs of a succeeded run of pipeline "+p.Name+".", ""))
	f.Type().Id(out).Add(gocode.Struct(p.Outputs))

	f.Comment(pipelineVar(p) + " describes pipeline " + p.Name + ".")
	f.Var().Id(pipelineVar(p)).Op("=").Add(descriptor(p.Descriptor(), jen.Op("&").Qual(schemaPath, "Schema").Add((&lit{items: []jen.Code{
		jen.Id("Kind").Op(":").Qual(schemaPath, "Object"),
		jen.Id("Name").Op(":").Lit(in),
		jen.Id("Fields").Op(":").Add(schemaFields(p.Inputs)),
	}}).multi())))

	addDoc(f, doc(p.HandleGoName+" is a run of pipeline "+p.Name+" with typed outputs.", ""))
	f.Type().Id(p.HandleGoName).Op("=").Qual(runtimePath, "TypedRun").Types(jen.Id(out))

	addDoc(f, doc(p.StartGoName+" starts a run of pipeline "+p.Name+" on e with the inputs in and returns its typed handle.", p.Description))
	f.Func().Id(p.StartGoName).Params(
		jen.Id("ctx").Qual("context", "Context"),
		jen.Id("e").Op("*").Qual(runtimePath, "Engine"),
		jen.Id("in").Id(in),
		jen.Id("opts").Qual(runtimePath, "StartOptions"),
	).Params(jen.Op("*").Id(p.HandleGoName), jen.Error()).Block(
		jen.Return(jen.Qual(runtimePath, "StartTyped").Types(jen.Id(out)).Call(
			jen.Id("ctx"), jen.Id("e"), jen.Lit(p.Name), startInputs(p.Inputs), jen.Id("opts"),
		)),
	)

	addDoc(f, doc(p.RunGoName+" runs pipeline "+p.Name+" once with the inputs in on a new engine binding impl (in memory unless opts give a backend), returns its outputs and shuts the engine down: one call for a test of task code, or a one-off run. A run that fails is its *runtime.RunError.", ""))
	f.Func().Id(p.RunGoName).Params(
		jen.Id("ctx").Qual("context", "Context"),
		jen.Id("impl").Id("Tasks"),
		jen.Id("in").Id(in),
		jen.Id("opts").Op("...").Qual(runtimePath, "Option"),
	).Params(jen.Id(out), jen.Error()).Block(
		jen.List(jen.Id("e"), jen.Err()).Op(":=").Id("NewEngine").Call(jen.Id("impl"), jen.Id("opts").Op("...")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Id(out).Values(), jen.Err())),
		jen.Return(jen.Qual(runtimePath, "RunOnce").Types(jen.Id(out)).Call(
			jen.Id("ctx"), jen.Id("e"), jen.Lit(p.Name), startInputs(p.Inputs),
		)),
	)
}

// startInputs returns the map of run inputs built from the input struct in.
func startInputs(fields []*model.Field) *jen.Statement {
	var l lit
	for _, fl := range fields {
		l.add(jen.Lit(fl.Name).Op(":").Id("in").Dot(fl.GoName))
	}
	m := jen.Map(jen.String()).Any()
	if len(fields) == 0 {
		return m.Values()
	}
	return m.Add(l.multi())
}

// descriptor returns the runtime.Pipeline literal of d, whose Input is the
// schema expression input.
func descriptor(d runtime.Pipeline, input jen.Code) *jen.Statement {
	var tasks lit
	for _, t := range d.Tasks {
		var l lit
		l.set("Name", jen.Lit(t.Name))
		l.set("Inputs", stringSlice(t.Inputs))
		l.set("Output", jen.Lit(t.Output))
		l.str("Type", t.Type)
		if t.Timeout != 0 {
			l.set("Timeout", duration(t.Timeout))
		}
		if r := t.Retry; r != (runtime.RetryPolicy{}) {
			var rl lit
			if r.Attempts != 0 {
				rl.set("Attempts", jen.Lit(r.Attempts))
			}
			if r.Backoff != 0 {
				rl.set("Backoff", duration(r.Backoff))
			}
			if r.MaxBackoff != 0 {
				rl.set("MaxBackoff", duration(r.MaxBackoff))
			}
			l.set("Retry", jen.Qual(runtimePath, "RetryPolicy").Add(rl.line()))
		}
		l.str("Map", t.Map)
		if t.MapConcurrency != 0 {
			l.set("MapConcurrency", jen.Lit(t.MapConcurrency))
		}
		tasks.add(l.multi())
	}
	var l lit
	l.set("ID", jen.Lit(d.ID))
	l.str("Description", d.Description)
	l.set("Tasks", jen.Index().Qual(runtimePath, "Task").Add(tasks.multi()))
	l.set("Inputs", fieldsLit(d.Inputs))
	l.set("Outputs", fieldsLit(d.Outputs))
	if d.Timeout != 0 {
		l.set("Timeout", duration(d.Timeout))
	}
	if !d.Retention.IsZero() {
		var rl lit
		if d.Retention.MaxAge != 0 {
			rl.set("MaxAge", duration(d.Retention.MaxAge))
		}
		if d.Retention.MaxRuns != 0 {
			rl.set("MaxRuns", jen.Lit(d.Retention.MaxRuns))
		}
		l.set("Retention", jen.Qual(runtimePath, "Retention").Add(rl.line()))
	}
	l.set("Input", input)
	return jen.Qual(runtimePath, "Pipeline").Add(l.multi())
}

// fieldsLit returns the []runtime.Field literal of fields, or nil when
// there are none.
func fieldsLit(fields []runtime.Field) *jen.Statement {
	if len(fields) == 0 {
		return nil
	}
	var items lit
	for _, fl := range fields {
		var l lit
		l.set("Name", jen.Lit(fl.Name))
		l.set("Type", jen.Lit(fl.Type))
		l.set("Required", jen.Lit(fl.Required))
		items.add(l.line())
	}
	return jen.Index().Qual(runtimePath, "Field").Add(items.multi())
}
