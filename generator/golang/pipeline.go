package golang

import (
	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator/graph"
	"github.com/taskwire/taskwire/generator/model"
)

// pipelineVar is the variable holding the runtime definition of p.
func pipelineVar(p *model.Pipeline) string { return "pipeline" + p.GoName }

// httpPipelineFunc is the function describing p to the HTTP layer.
func httpPipelineFunc(p *model.Pipeline) string { return "httpPipeline" + p.GoName }

// pipelineFile generates p's input and output structs, its runtime
// definition, its typed handle and its HTTP description.
func (g *gen) pipelineFile(p *model.Pipeline) *jen.File {
	f := g.newFile()
	in, out := p.InputGoName, p.OutputGoName

	addDoc(f, doc(in+" holds the inputs of pipeline "+p.Name+": the body of its execute request.", ""))
	f.Type().Id(in).Add(structOf(p.Inputs))
	addDoc(f, doc(out+" holds the outputs of a succeeded run of pipeline "+p.Name+".", ""))
	f.Type().Id(out).Add(structOf(p.Outputs))

	f.Comment(pipelineVar(p) + " is the runtime definition of pipeline " + p.Name + ".")
	f.Var().Id(pipelineVar(p)).Op("=").Add(g.runtimePipeline(p))

	f.Comment(schemaName(in) + " is the schema of the execute request body of pipeline " + p.Name + ".")
	f.Var().Id(schemaName(in)).Op("=").Op("&").Qual(schemaPath, "Schema").Add((&lit{items: []jen.Code{
		jen.Id("Kind").Op(":").Qual(schemaPath, "Object"),
		jen.Id("Name").Op(":").Lit(in),
		jen.Id("Fields").Op(":").Add(schemaFields(p.Inputs)),
	}}).multi())

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

	f.Comment(httpPipelineFunc(p) + " describes pipeline " + p.Name + " to the HTTP layer.")
	f.Func().Id(httpPipelineFunc(p)).Params().Qual(httpapiPath, "Pipeline").Block(
		jen.Return(g.httpPipeline(p)),
	)
	return f
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

// runtimePipeline returns the runtime.Pipeline literal of p.
func (g *gen) runtimePipeline(p *model.Pipeline) *jen.Statement {
	var tasks lit
	for _, t := range p.Tasks {
		var l lit
		l.set("Name", jen.Lit(t.Name))
		l.set("Inputs", stringSlice(fieldNames(t.Inputs)))
		l.set("Output", jen.Lit(t.Output))
		if t.Timeout != 0 {
			l.set("Timeout", duration(t.Timeout))
		}
		if r := t.Retry; r != (model.Retry{}) {
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
		if t.Map != "" {
			l.set("Map", jen.Lit(t.Map))
			if t.Concurrency != 0 {
				l.set("MapConcurrency", jen.Lit(t.Concurrency))
			}
		}
		tasks.add(l.multi())
	}
	var l lit
	l.set("ID", jen.Lit(p.Name))
	l.set("Tasks", jen.Index().Qual(runtimePath, "TaskDef").Add(tasks.multi()))
	l.set("Inputs", stringSlice(fieldNames(p.Inputs)))
	l.set("Outputs", stringSlice(fieldNames(p.Outputs)))
	if p.Timeout != 0 {
		l.set("Timeout", duration(p.Timeout))
	}
	return jen.Qual(runtimePath, "Pipeline").Add(l.multi())
}

// httpFields returns the []httpapi.Field literal of fields.
func httpFields(fields []*model.Field) *jen.Statement {
	if len(fields) == 0 {
		return nil
	}
	var items lit
	for _, fl := range fields {
		var l lit
		l.set("Name", jen.Lit(fl.Name))
		l.set("Type", jen.Lit(fl.Type.String()))
		l.set("Required", jen.Lit(!fl.Type.Optional))
		items.add(l.line())
	}
	return jen.Index().Qual(httpapiPath, "Field").Add(items.multi())
}

// httpPipeline returns the httpapi.Pipeline literal of p.
func (g *gen) httpPipeline(p *model.Pipeline) *jen.Statement {
	var tasks lit
	for _, t := range p.Tasks {
		var l lit
		l.set("Name", jen.Lit(t.Name))
		l.set("Inputs", stringSlice(fieldNames(t.Inputs)))
		l.set("Output", jen.Lit(t.Output))
		l.set("Type", jen.Lit(t.OutputType.String()))
		l.str("Map", t.Map)
		tasks.add(l.line())
	}
	var l lit
	l.set("ID", jen.Lit(p.Name))
	l.str("Description", p.Description)
	l.set("Inputs", httpFields(p.Inputs))
	l.set("Outputs", httpFields(p.Outputs))
	l.set("Tasks", jen.Index().Qual(httpapiPath, "Task").Add(tasks.multi()))
	if p.Timeout != 0 {
		l.set("Timeout", duration(p.Timeout))
	}
	if p.RateLimit != nil {
		l.set("RateLimit", jen.Lit(p.RateLimit.Text))
	}
	l.set("Input", jen.Id(schemaName(p.InputGoName)))
	l.set("Graph", graphLit(graph.Gen(p)))
	return jen.Qual(httpapiPath, "Pipeline").Add(l.multi())
}
