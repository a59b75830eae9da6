// SPDX-License-Identifier: Apache-2.0

// Package generator is the driver of the back ends: it runs each on a
// spec's model and returns the files of one generation. Every back end has
// the same shape, a Backend, and reads only the model; none calls another.
// The CLI chooses the back ends (taskwire generate: Go code and the OpenAPI
// document it embeds).
package generator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/taskwire/taskwire/generator/model"
)

// File is one generated file: its base name and its content.
type File struct {
	Name    string
	Content []byte
}

// Backend turns a model into files. It must be deterministic: the same
// model gives the same bytes.
type Backend func(m *model.Model) ([]File, error)

// OpenAPIFile is the name of the generated OpenAPI document, which the
// OpenAPI back end writes and the generated Go server embeds.
const OpenAPIFile = "taskwire_openapi_gen.json"

// Generate runs backends on m and returns all their files, sorted by name.
// Two back ends writing one name is an error.
func Generate(m *model.Model, backends ...Backend) ([]File, error) {
	if m == nil {
		return nil, fmt.Errorf("generator: no model")
	}
	var files []File
	for _, b := range backends {
		out, err := b(m)
		if err != nil {
			return nil, err
		}
		files = append(files, out...)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(files); i++ {
		if files[i].Name == files[i-1].Name {
			return nil, fmt.Errorf("generator: two back ends write %s", files[i].Name)
		}
	}
	return files, nil
}
