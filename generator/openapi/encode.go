// SPDX-License-Identifier: Apache-2.0

package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// topLevel is the order of the document's top-level keys: what a reader
// wants first. kin-openapi marshals objects with sorted keys; only the top
// level and paths are reordered, everything below stays sorted, so the
// output is the same on every run.
var topLevel = []string{"openapi", "info", "servers", "tags", "security", "paths", "components"}

// encodeJSON marshals doc with the top-level keys in reading order and the
// paths in route order, indented by two spaces, with a trailing newline.
func encodeJSON(doc *openapi3.T, paths []string) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encoding the document: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("openapi: encoding the document: %w", err)
	}
	var pathItems map[string]json.RawMessage
	if err := json.Unmarshal(top["paths"], &pathItems); err != nil {
		return nil, fmt.Errorf("openapi: encoding the paths: %w", err)
	}
	orderedPaths, err := ordered(pathItems, paths)
	if err != nil {
		return nil, err
	}
	top["paths"] = orderedPaths
	out, err := ordered(top, topLevel)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		return nil, fmt.Errorf("openapi: indenting the document: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ordered writes the object m with the keys of order first, in that order;
// m must have no other keys, so nothing is dropped or left to map order.
func ordered(m map[string]json.RawMessage, order []string) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, k := range order {
		v, ok := m[k]
		if !ok {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(v)
		n++
	}
	if n != len(m) {
		return nil, fmt.Errorf("openapi: the document has keys the encoder does not place (%d of %d placed)", n, len(m))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// jsonToYAML re-encodes a JSON document as block-style YAML, keeping its key
// order. Strings that would read as another type in YAML are quoted.
func jsonToYAML(js []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, fmt.Errorf("openapi: converting to YAML: %w", err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("openapi: converting to YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("openapi: converting to YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// blockStyle drops the flow and quoting styles JSON parsing leaves on the
// nodes, so the encoder picks YAML's own (quoting only where needed).
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
