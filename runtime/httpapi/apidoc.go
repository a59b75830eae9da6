// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/taskwire/taskwire/runtime/route"
)

// maxDocVariants bounds the API documents kept per set of readable
// pipelines. A set is what a caller's patterns and roles let it read, so
// there are usually as many sets as kinds of keys; JWTs with arbitrary
// pipelines claims could make many more, and past this bound a new set
// replaces a kept one chosen at random.
const maxDocVariants = 64

// docVariant is the API document (and its /docs page) as a caller who may
// read a given set of pipelines sees it.
type docVariant struct {
	json     []byte
	pageOnce sync.Once
	page     []byte
	pageErr  error
}

// docsState holds the variants of the API document, by set of readable
// pipelines.
type docsState struct {
	docsMu       sync.Mutex
	docsVariants map[string]*docVariant
	docsFull     *docVariant // every pipeline readable, or security off
}

// renderedPage renders v's /docs page (once).
func (v *docVariant) renderedPage() ([]byte, error) {
	v.pageOnce.Do(func() { v.page, v.pageErr = renderDocs(v.json) })
	return v.page, v.pageErr
}

// apiDoc returns the API document as the caller of r sees it: only the
// pipelines it may read (as GET /pipelines lists them), and only the
// schemas those pipelines and the other operations reference. With
// security off, or for a caller who may read every pipeline, it is the
// service's document as generated.
func (s *Server) apiDoc(r *http.Request) (*docVariant, error) {
	p := s.principal(r)
	var key []byte
	hidden := 0
	for i, pl := range s.order {
		if s.policy.allowed(p, ActionRead, pl.ID) {
			key = strconv.AppendInt(key, int64(i), 36)
			key = append(key, ',')
		} else {
			hidden++
		}
	}
	if hidden == 0 {
		s.docsMu.Lock()
		defer s.docsMu.Unlock()
		if s.docsFull == nil {
			s.docsFull = &docVariant{json: s.svc.OpenAPI}
		}
		return s.docsFull, nil
	}
	s.docsMu.Lock()
	v := s.docsVariants[string(key)]
	s.docsMu.Unlock()
	if v != nil {
		return v, nil
	}
	// Filtered outside the lock: callers of other sets do not wait.
	var readable, others []string
	for _, pl := range s.order {
		if s.policy.allowed(p, ActionRead, pl.ID) {
			readable = append(readable, pl.ID)
		} else {
			others = append(others, pl.ID)
		}
	}
	doc, err := filterDoc(s.svc.OpenAPI, readable, others)
	if err != nil {
		return nil, err
	}
	v = &docVariant{json: doc}
	s.docsMu.Lock()
	defer s.docsMu.Unlock()
	if had := s.docsVariants[string(key)]; had != nil {
		return had, nil // made meanwhile by another request
	}
	if s.docsVariants == nil {
		s.docsVariants = make(map[string]*docVariant)
	}
	if len(s.docsVariants) >= maxDocVariants {
		for k := range s.docsVariants { // full: one goes, chosen at random
			delete(s.docsVariants, k)
			break
		}
	}
	s.docsVariants[string(key)] = v
	return v, nil
}

// docHeaders sets the headers of a response whose body depends on the
// caller: every response already carries Cache-Control: no-store, and
// Vary names the credential headers so that no cache that keeps it
// anyway hands one caller's document to another.
func (s *Server) docHeaders(h http.Header) {
	if !s.svc.Security.Enabled {
		return
	}
	vary := "Authorization"
	if hdr := s.svc.Security.APIKeyHeader; hdr != "" && !strings.EqualFold(hdr, "Authorization") {
		vary += ", " + http.CanonicalHeaderKey(hdr)
	}
	h.Set("Vary", vary)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	v, err := s.apiDoc(r)
	if err != nil {
		s.log.Error("taskwire: filtering the API document failed", "err", err)
		writeProblem(w, r, http.StatusInternalServerError, "the API document cannot be served")
		return
	}
	if info := infoFrom(r); info != nil {
		info.Status = http.StatusOK
	}
	h := w.Header()
	s.docHeaders(h)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(v.json)))
	_, _ = w.Write(v.json)
}

// filterDoc returns the OpenAPI document full without what concerns the
// pipelines in hidden: their execute operations, their ids in the
// pipeline_id parameters' enums and in examples, and the component schemas
// that only their operations referenced (so that no type name of theirs
// remains and every remaining reference resolves). readable are the
// pipelines that stay, in the order of the service.
func filterDoc(full []byte, readable, hidden []string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(full, &doc); err != nil {
		return nil, err
	}
	before := reachableSchemas(doc)
	isHidden := make(map[string]bool, len(hidden))
	drop := make(map[string]bool, len(hidden))
	for _, id := range hidden {
		isHidden[id] = true
		drop[route.ExecuteID(id)] = true
	}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			if o, ok := op.(map[string]any); ok {
				if id, _ := o["operationId"].(string); drop[id] {
					delete(ops, method)
				}
			}
		}
		if len(ops) == 0 {
			delete(paths, path)
		}
	}
	f := docFilter{hidden: hidden, isHidden: isHidden, readable: readable}
	f.walk(doc, false)
	after := reachableSchemas(doc)
	if comps, ok := doc["components"].(map[string]any); ok {
		if schemas, ok := comps["schemas"].(map[string]any); ok {
			for name := range schemas {
				if before[name] && !after[name] {
					delete(schemas, name)
				}
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the graphs' SVG examples stay readable
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// docFilter removes the hidden pipelines' ids from parameters and
// examples.
type docFilter struct {
	hidden   []string
	isHidden map[string]bool
	readable []string
}

// walk filters v; props says v is a schema's properties, whose keys are
// field names (a field may be called "example").
func (f *docFilter) walk(v any, props bool) {
	switch v := v.(type) {
	case map[string]any:
		if props {
			for _, x := range v {
				f.walk(x, false)
			}
			return
		}
		if name, _ := v["name"].(string); name == "pipeline_id" {
			if _, isParam := v["in"]; isParam {
				f.pipelineParam(v)
			}
		}
		if ex, ok := v["examples"].(map[string]any); ok {
			for k := range ex {
				if f.isHidden[k] {
					delete(ex, k)
				}
			}
			if len(ex) == 0 {
				delete(v, "examples")
			}
		}
		if ex, ok := v["example"]; ok {
			if keep, ok := f.example(ex); ok {
				v["example"] = keep
			} else {
				delete(v, "example")
			}
		}
		for k, x := range v {
			f.walk(x, k == "properties")
		}
	case []any:
		for _, x := range v {
			f.walk(x, false)
		}
	}
}

// pipelineParam keeps only readable pipelines in a pipeline_id
// parameter's enum (none left: no enum) and example.
func (f *docFilter) pipelineParam(param map[string]any) {
	sch, _ := param["schema"].(map[string]any)
	if sch == nil {
		return
	}
	if enum, ok := sch["enum"].([]any); ok {
		kept := enum[:0]
		for _, e := range enum {
			if s, _ := e.(string); !f.isHidden[s] {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			delete(sch, "enum")
		} else {
			sch["enum"] = kept
		}
	}
	for _, m := range []map[string]any{param, sch} {
		if ex, ok := m["example"].(string); ok && f.isHidden[ex] {
			if len(f.readable) > 0 {
				m["example"] = f.readable[0]
			} else {
				delete(m, "example")
			}
		}
	}
}

// example returns ex without the hidden pipelines, and false when it
// cannot be kept: a list of pipeline ids (GET /pipelines' example) loses
// the hidden ones; any other example naming one is dropped.
func (f *docFilter) example(ex any) (any, bool) {
	if obj, ok := ex.(map[string]any); ok {
		if list, ok := obj["pipelines"].([]any); ok && len(obj) == 1 {
			kept := []any{}
			for _, e := range list {
				if s, _ := e.(string); !f.isHidden[s] {
					kept = append(kept, e)
				}
			}
			return map[string]any{"pipelines": kept}, true
		}
	}
	return ex, !f.mentions(ex)
}

// mentions reports whether v holds a string naming a hidden pipeline
// (as a whole word of a snake_case text, for example "execute_<id>").
func (f *docFilter) mentions(v any) bool {
	switch v := v.(type) {
	case string:
		for _, id := range f.hidden {
			if namesWord(v, id) {
				return true
			}
		}
	case map[string]any:
		for k, x := range v {
			if f.mentions(k) || f.mentions(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if f.mentions(x) {
				return true
			}
		}
	}
	return false
}

// namesWord reports whether s contains id not followed by a letter, digit
// or underscore and not preceded by a letter or digit: "execute_report"
// names report, "execute_report_daily" does not.
func namesWord(s, id string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], id)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(id)
		before := start == 0 || !isAlnum(s[start-1])
		after := end == len(s) || !(isAlnum(s[end]) || s[end] == '_')
		if before && after {
			return true
		}
		i = start + 1
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// reachableSchemas returns the names of the component schemas that the
// document references outside components.schemas, directly or through
// other schemas.
func reachableSchemas(doc map[string]any) map[string]bool {
	var schemas map[string]any
	if comps, ok := doc["components"].(map[string]any); ok {
		schemas, _ = comps["schemas"].(map[string]any)
	}
	seen := map[string]bool{}
	var queue []string
	var refs func(v any)
	refs = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok && !seen[name] {
					seen[name] = true
					queue = append(queue, name)
				}
			}
			for _, x := range v {
				refs(x)
			}
		case []any:
			for _, x := range v {
				refs(x)
			}
		}
	}
	for k, v := range doc {
		if k != "components" {
			refs(v)
			continue
		}
		comps, _ := v.(map[string]any)
		for ck, cv := range comps {
			if ck != "schemas" {
				refs(cv)
			}
		}
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		refs(schemas[name])
	}
	return seen
}
