// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// docs serves an HTML page describing the API, rendered on the server from
// the OpenAPI document as the caller sees it (apiDoc): no script, no stylesheet or font from elsewhere.
func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	v, err := s.apiDoc(r)
	var page []byte
	if err == nil {
		page, err = v.renderedPage()
	}
	if err != nil {
		s.log.Error("taskwire: rendering /docs failed", "err", err)
		writeProblem(w, r, http.StatusInternalServerError, "the API document cannot be rendered")
		return
	}
	if info := infoFrom(r); info != nil {
		info.Status = http.StatusOK
	}
	h := w.Header()
	s.docHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	_, _ = w.Write(page)
}

type docOperation struct {
	Method, Path, ID, Summary, Description string
	Parameters                             []docParam
	Body                                   string
	Responses                              []docResponse
}

type docParam struct{ Name, In, Description string }

type docResponse struct{ Status, Description string }

type docSchema struct {
	Name string
	JSON string
}

type docData struct {
	Title, Version, Description string
	Operations                  []docOperation
	Schemas                     []docSchema
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f4f4f4;padding:.75rem;overflow:auto}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4rem;font-weight:700}.get{color:#0a6}.post{color:#06c}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;vertical-align:top}
</style></head><body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p>{{.Description}}</p>
<p>The machine-readable document is at <a href="/openapi.json"><code>/openapi.json</code></a>.</p>
<h2>Operations</h2>
{{range .Operations}}<div class="op" id="{{.ID}}">
<h3><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code></h3>
<p><b>{{.Summary}}</b> <small>(<code>{{.ID}}</code>)</small></p>{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Parameters}}<table><tr><th>parameter</th><th>in</th><th></th></tr>{{range .Parameters}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<p>Request body: <code>{{.Body}}</code></p>{{end}}
<table><tr><th>status</th><th>response</th></tr>{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td></tr>{{end}}</table>
</div>{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<h3 id="schema-{{.Name}}">{{.Name}}</h3><pre>{{.JSON}}</pre>{{end}}
</body></html>
`))

// renderDocs turns an OpenAPI 3 document into the docs page.
func renderDocs(openapi []byte) ([]byte, error) {
	var doc struct {
		Info struct {
			Title, Version, Description string
		}
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas    map[string]json.RawMessage
			Parameters map[string]docParamJSON
			Responses  map[string]struct{ Description string }
		}
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return nil, err
	}
	data := docData{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		for _, method := range []string{"get", "post", "put", "patch", "delete"} {
			raw, ok := doc.Paths[path][method]
			if !ok {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
				Summary     string
				Description string
				Parameters  []docParamJSON
				RequestBody struct {
					Content map[string]struct {
						Schema struct {
							Ref string `json:"$ref"`
						}
					}
				} `json:"requestBody"`
				Responses map[string]struct {
					Ref         string `json:"$ref"`
					Description string
				}
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, err
			}
			o := docOperation{Method: method, Path: path, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				}
				o.Parameters = append(o.Parameters, docParam{Name: p.Name, In: p.In, Description: p.Description})
			}
			if c, ok := op.RequestBody.Content["application/json"]; ok {
				o.Body = strings.TrimPrefix(c.Schema.Ref, "#/components/schemas/")
			}
			statuses := make([]string, 0, len(op.Responses))
			for st := range op.Responses {
				statuses = append(statuses, st)
			}
			sort.Strings(statuses)
			for _, st := range statuses {
				resp := op.Responses[st]
				if resp.Ref != "" {
					resp.Description = doc.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")].Description
				}
				o.Responses = append(o.Responses, docResponse{Status: st, Description: resp.Description})
			}
			data.Operations = append(data.Operations, o)
		}
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for n := range doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, doc.Components.Schemas[n], "", "  "); err != nil {
			return nil, err
		}
		data.Schemas = append(data.Schemas, docSchema{Name: n, JSON: pretty.String()})
	}
	var out bytes.Buffer
	if err := docsTemplate.Execute(&out, data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type docParamJSON struct {
	Ref         string `json:"$ref"`
	Name        string
	In          string
	Description string
}
