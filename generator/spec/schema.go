// SPDX-License-Identifier: Apache-2.0

package spec

import (
	"bytes"
	_ "embed"
)

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the spec format, version
// 1, with $id https://taskwire.dev/schema/taskwire-1.json. Editors use it for
// completion, hover help and errors while a spec is written; it checks the
// shape of a document, while the parser and package model also check its
// meaning (wiring, references, roles, name collisions). The caller owns the
// returned slice.
func Schema() []byte {
	return bytes.Clone(schemaJSON)
}
