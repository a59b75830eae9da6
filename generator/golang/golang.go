// SPDX-License-Identifier: Apache-2.0

// Package golang is the Go back end: it turns the model of a spec into the
// typed Go wiring of a service (types, the Tasks interface and its
// registration, each pipeline's descriptor and typed handle, the HTTP
// service descriptor), whose server embeds the document of the OpenAPI back
// end (generator.OpenAPIFile). Every file is built with jennifer and
// formatted; the output is byte-for-byte deterministic for a given model.
//
// The generated code is wiring only: behaviour lives in package runtime and
// its sub-packages, which the generated code calls.
package golang

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/gocode"
	"github.com/taskwire/taskwire/generator/model"
)

// Header is the first line of every generated Go file; see gocode.Header.
const Header = gocode.Header

// Import paths of the runtime packages the generated code calls.
const (
	runtimePath = "github.com/taskwire/taskwire/runtime"
	httpapiPath = "github.com/taskwire/taskwire/runtime/httpapi"
	schemaPath  = "github.com/taskwire/taskwire/runtime/schema"
)

// Gen is the back end (a generator.Backend): it returns the Go files of m,
// sorted by name: taskwire_pipelines_gen.go (when the spec has pipelines),
// taskwire_server_gen.go, taskwire_tasks_gen.go and taskwire_types_gen.go.
func Gen(m *model.Model) ([]generator.File, error) {
	if m == nil {
		return nil, fmt.Errorf("golang: no model")
	}
	g := &gen{m: m, source: filepath.Base(m.File)}
	var files []generator.File
	add := func(name string, f *jen.File) error {
		b, err := render(f)
		if err != nil {
			return fmt.Errorf("golang: %s: %w", name, err)
		}
		files = append(files, generator.File{Name: name, Content: b})
		return nil
	}
	if err := add("taskwire_types_gen.go", g.typesFile()); err != nil {
		return nil, err
	}
	if err := add("taskwire_tasks_gen.go", g.tasksFile()); err != nil {
		return nil, err
	}
	if len(m.Pipelines) > 0 {
		if err := add(PipelinesFile, g.pipelinesFile()); err != nil {
			return nil, err
		}
	}
	if err := add("taskwire_server_gen.go", g.serverFile()); err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b generator.File) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// gen holds what every file of one generation shares.
type gen struct {
	m      *model.Model
	source string // the spec file's base name, named in every header
}

// newFile returns an empty file of the generated package with the header.
func (g *gen) newFile() *jen.File {
	return gocode.NewFile(g.m.Package, g.source, map[string]string{
		runtimePath: "runtime",
		httpapiPath: "httpapi",
		schemaPath:  "schema",
	})
}

// render formats f.
func render(f *jen.File) ([]byte, error) { return gocode.Render(f) }

// doc returns the comment lines of a declaration; see gocode.Doc.
func doc(first, description string) []jen.Code { return gocode.Doc(first, description) }

// addDoc adds comment lines before the next declaration of f.
func addDoc(f *jen.File, lines []jen.Code) { gocode.AddDoc(f, lines) }

// goType returns the Go type of t; see gocode.GoType.
func goType(t *model.TypeRef) *jen.Statement { return gocode.GoType(t) }

// duration returns d as readable Go: 30 * time.Second, time.Minute, 0.
func duration(d time.Duration) *jen.Statement {
	if d == 0 {
		return jen.Lit(0)
	}
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}, {time.Nanosecond, "Nanosecond"}}
	for _, u := range units {
		if d%u.d == 0 {
			n := int64(d / u.d)
			if n == 1 {
				return jen.Qual("time", u.name)
			}
			return jen.Lit(int(n)).Op("*").Qual("time", u.name)
		}
	}
	return jen.Lit(int64(d)) // unreachable: every duration is a whole number of nanoseconds
}

// stringSlice returns a []string literal, or nil when vs is empty.
func stringSlice(vs []string) *jen.Statement {
	if len(vs) == 0 {
		return nil
	}
	items := make([]jen.Code, len(vs))
	for i, v := range vs {
		items[i] = jen.Lit(v)
	}
	return jen.Index().String().Values(items...)
}

// lit builds a composite literal whose keyed elements keep the order they
// are added in (jen.Dict would sort them), skipping unset values.
type lit struct {
	items []jen.Code
}

// set adds Key: value unless value is nil.
func (l *lit) set(key string, value jen.Code) {
	if value == nil {
		return
	}
	if s, ok := value.(*jen.Statement); ok && s == nil {
		return
	}
	l.items = append(l.items, jen.Id(key).Op(":").Add(value))
}

// str adds Key: "value" unless value is empty (a zero field need not be written).
func (l *lit) str(key, value string) {
	if value != "" {
		l.set(key, jen.Lit(value))
	}
}

// add adds an unkeyed element.
func (l *lit) add(value jen.Code) { l.items = append(l.items, value) }

// multi renders the literal with one element per line.
func (l *lit) multi() *jen.Statement {
	return jen.Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}, l.items...)
}

// line renders the literal on one line.
func (l *lit) line() *jen.Statement { return jen.Values(l.items...) }
