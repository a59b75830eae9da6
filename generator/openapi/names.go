// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"strconv"

	"github.com/taskwire/taskwire/generator/model"
)

// namer hands out component schema names. The spec's names (named types and
// the pipelines' input and output structs) are the model's Go names and are
// never changed; a name this package adds (Run, Problem, <Pipeline>RunResult,
// ...) that one of them already takes gets a Taskwire prefix instead.
type namer struct {
	taken map[string]bool
}

func newNamer(m *model.Model) *namer {
	n := &namer{taken: map[string]bool{}}
	for _, t := range m.Types {
		n.taken[t.GoName] = true
	}
	for _, p := range m.Pipelines {
		n.taken[p.InputGoName] = true
		n.taken[p.OutputGoName] = true
	}
	return n
}

// take reserves want, or the first free name of TaskwireWant, TaskwireWant2, ...
func (n *namer) take(want string) string {
	name := want
	for i := 1; n.taken[name]; i++ {
		name = "Taskwire" + want
		if i > 1 {
			name += strconv.Itoa(i)
		}
	}
	n.taken[name] = true
	return name
}
