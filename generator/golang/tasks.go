// SPDX-License-Identifier: Apache-2.0

package golang

import (
	"strconv"

	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator/gocode"
	"github.com/taskwire/taskwire/generator/model"
)

// tasksFile generates the input structs of tasks with many inputs, the
// Tasks interface, UnimplementedTasks and Register.
func (g *gen) tasksFile() *jen.File {
	f := g.newFile()
	for _, t := range g.m.Tasks {
		if t.InputsGoName == "" {
			continue
		}
		addDoc(f, doc(t.InputsGoName+" holds the inputs of task "+t.Name+", which its method "+t.GoName+" takes as one value: with more than "+strconv.Itoa(model.MaxPositionalInputs)+" inputs, parameters in spec order would be easy to swap.", ""))
		f.Type().Id(t.InputsGoName).Add(gocode.Struct(t.Inputs))
	}
	f.Comment("Tasks is implemented by the user: one method per task of the spec. The")
	f.Comment("runtime calls a method with the task's inputs once they exist, retries it")
	f.Comment("as the task's retry policy says, and cancels ctx on timeout, cancellation")
	f.Comment("and shutdown. Return runtime.Permanent(err) for a failure that a retry")
	f.Comment("would not fix.")
	f.Type().Id("Tasks").InterfaceFunc(func(b *jen.Group) {
		for i, t := range g.m.Tasks {
			if i > 0 {
				b.Line()
			}
			for _, c := range taskDoc(t) {
				b.Add(c)
			}
			b.Id(t.GoName).Add(methodParams(t, true)).Params(goType(t.ElemType), jen.Error())
		}
	})

	f.Comment("UnimplementedTasks implements every method of Tasks by failing its task")
	f.Comment("with a permanent error that wraps runtime.ErrNotImplemented and names the")
	f.Comment("method to write. Embed it in your implementation to build and run the")
	f.Comment("service before every task has a method; each method you write replaces")
	f.Comment("its stub.")
	f.Type().Id("UnimplementedTasks").Struct()
	f.Var().Id("_").Id("Tasks").Op("=").Id("UnimplementedTasks").Values()
	for _, t := range g.m.Tasks {
		f.Comment(t.GoName + " fails task " + t.Name + ", which has no implementation yet.")
		f.Func().Params(jen.Id("UnimplementedTasks")).Id(t.GoName).Add(methodParams(t, false)).Params(goType(t.ElemType), jen.Error()).Block(
			jen.Var().Id("out").Add(goType(t.ElemType)),
			jen.Return(jen.Id("out"), jen.Qual(runtimePath, "NotImplemented").Call(jen.Lit(t.Name), jen.Lit(t.GoName))),
		)
	}

	f.Comment("Register binds impl to every task of the spec in reg, then registers every")
	f.Comment("pipeline. It reports every problem at once.")
	f.Func().Id("Register").Params(
		jen.Id("reg").Op("*").Qual(runtimePath, "Registry"),
		jen.Id("impl").Id("Tasks"),
	).Error().Block(
		jen.Return(jen.Qual("errors", "Join").CustomFunc(jen.Options{Open: "(", Close: ")", Separator: ",", Multi: true}, func(b *jen.Group) {
			for _, t := range g.m.Tasks {
				b.Id("reg").Dot("RegisterTask").Call(jen.Lit(t.Name), adapter(t))
			}
			for _, p := range g.m.Pipelines {
				b.Id("reg").Dot("RegisterPipeline").Call(jen.Id(pipelineVar(p)))
			}
		})),
	)
	return f
}

// taskDoc is the doc comment of a task's method.
func taskDoc(t *model.Task) []jen.Code {
	first := t.GoName + " implements task " + t.Name + "."
	if t.Map != "" {
		first += " It is called once per element of " + t.Map + "; the runtime runs the calls in parallel and collects their results, in order, into " + t.Output + "."
	}
	return doc(first, t.Description)
}

// methodParams returns the parameter list of t's method: ctx, then its
// inputs in spec order, or its inputs struct. Without names, it is the
// list of an UnimplementedTasks method, whose body reads no parameter.
func methodParams(t *model.Task, named bool) *jen.Statement {
	param := func(name string, typ *jen.Statement) *jen.Statement {
		if named {
			return jen.Id(name).Add(typ)
		}
		return typ
	}
	return jen.ParamsFunc(func(ps *jen.Group) {
		ps.Add(param("ctx", jen.Qual("context", "Context")))
		if t.InputsGoName != "" {
			ps.Add(param("in", jen.Id(t.InputsGoName)))
			return
		}
		for _, in := range t.Inputs {
			ps.Add(param(in.GoParam, goType(in.Type)))
		}
	})
}

// adapterReserved are the names an adapter's locals must not take.
var adapterReserved = map[string]bool{
	"ctx": true, "in": true, "err": true, "impl": true, "reg": true,
	"runtime": true, "context": true, "errors": true, "time": true,
}

// adapter returns the runtime.TaskFunc literal that decodes t's inputs and
// calls its method.
func adapter(t *model.Task) *jen.Statement {
	return jen.Func().Params(
		jen.Id("ctx").Qual("context", "Context"),
		jen.Id("in").Qual(runtimePath, "Inputs"),
	).Params(jen.Any(), jen.Error()).BlockFunc(func(b *jen.Group) {
		if t.InputsGoName != "" {
			b.Var().Id("args").Id(t.InputsGoName)
			b.Var().Err().Error()
			for _, in := range t.Inputs {
				b.If(
					jen.List(jen.Id("args").Dot(in.GoName), jen.Err()).Op("=").Qual(runtimePath, "Input").Types(goType(in.Type)).Call(jen.Id("in"), jen.Lit(in.Name)),
					jen.Err().Op("!=").Nil(),
				).Block(jen.Return(jen.Nil(), jen.Err()))
			}
			b.Return(jen.Id("impl").Dot(t.GoName).Call(jen.Id("ctx"), jen.Id("args")))
			return
		}
		args := []jen.Code{jen.Id("ctx")}
		for _, in := range t.Inputs {
			name := in.GoParam
			if adapterReserved[name] {
				name += "_"
			}
			b.List(jen.Id(name), jen.Err()).Op(":=").Qual(runtimePath, "Input").Types(goType(in.Type)).Call(jen.Id("in"), jen.Lit(in.Name))
			b.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err()))
			args = append(args, jen.Id(name))
		}
		b.Return(jen.Id("impl").Dot(t.GoName).Call(args...))
	})
}
