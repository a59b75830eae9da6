// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"embed"
	"encoding/json"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/taskwire/taskwire/runtime/route"
)

// The console (CONTRACT.md section 5): a page and its files, embedded here
// and served by every generated server at /ui/. It holds no data: its
// script calls this API with the credential the user enters, so that
// authentication, ACLs, limits and audit apply to what it shows exactly as
// to any other client.
//
//go:embed console/index.html console/console.js console/console.css console/favicon.svg
var consoleFiles embed.FS

// ConsolePath is where the console is served.
const ConsolePath = "/ui/"

// ConsoleCSP is the Content-Security-Policy of every console response: the
// page may load script, style and images from this origin only and call
// only this origin's API; no inline script or style, no eval, no plugin,
// no framing, no form posted anywhere, no <base> to move its URLs.
const ConsoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleTypes are the media types of the console's files, by extension.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// consoleConfigFile is the console's settings, made from the Service.
const consoleConfigFile = "config.json"

// consoleConfig is what the sign-in needs before any credential: the
// service's title and which credentials it takes. Nothing of the service's
// data, and nothing a 401's WWW-Authenticate does not already say.
type consoleConfig struct {
	Title        string   `json:"title"`
	Auth         []string `json:"auth"`
	APIKeyHeader string   `json:"api_key_header,omitempty"`
}

type consoleState struct {
	configOnce sync.Once
	config     []byte
}

func (s *Server) consoleSettings() []byte {
	s.console.configOnce.Do(func() {
		sec := s.svc.Security
		c := consoleConfig{Title: s.svc.Title, Auth: []string{}}
		if c.Title == "" {
			c.Title = "taskwire"
		}
		if sec.Enabled {
			if sec.APIKey {
				c.Auth = append(c.Auth, "api_key")
				c.APIKeyHeader = sec.APIKeyHeader
				if c.APIKeyHeader == "" {
					c.APIKeyHeader = "X-API-Key"
				}
			}
			if sec.JWT {
				c.Auth = append(c.Auth, "jwt")
			}
		}
		s.console.config, _ = json.Marshal(c) // strings only: cannot fail
	})
	return s.console.config
}

// consolePage serves the console's page at exactly /ui/.
func (s *Server) consolePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", ConsoleCSP)
	if r.URL.Path != ConsolePath {
		writeProblem(w, r, http.StatusNotFound, "the console has no such file")
		return
	}
	s.consoleServe(w, r, "index.html")
}

// consoleFile serves a file of the console: one of the embedded files, or
// config.json.
func (s *Server) consoleFile(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", ConsoleCSP)
	name := r.PathValue("file")
	if name == consoleConfigFile {
		writeConsole(w, r, "application/json", s.consoleSettings())
		return
	}
	if name == "index.html" { // one address for the page
		writeProblem(w, r, http.StatusNotFound, "the console's page is "+ConsolePath)
		return
	}
	s.consoleServe(w, r, name)
}

func (s *Server) consoleServe(w http.ResponseWriter, r *http.Request, name string) {
	ctype, known := consoleTypes[path.Ext(name)]
	body, err := consoleFiles.ReadFile("console/" + name)
	if !known || err != nil || strings.ContainsAny(name, "/\\") {
		writeProblem(w, r, http.StatusNotFound, "the console has no such file")
		return
	}
	writeConsole(w, r, ctype, body)
}

func writeConsole(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	if info := infoFrom(r); info != nil {
		info.Status = http.StatusOK
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// leadBrowsers wraps the chained handler of GET /docs: a browser that
// sends no credentials (it asks for HTML and has neither an API key nor an
// Authorization header) is redirected to the console's API reference,
// where it can sign in, instead of ending on a 401. The redirect goes
// through a chain of its own, public and limited per client address like
// the console, so that it is recorded and refused like any request (over
// plain HTTP where HTTPS is required it is 403, never a redirect). Every
// other request, API clients without credentials among them, is the
// docs route's, authenticated as before.
func (s *Server) leadBrowsers(rt *Route, docs http.Handler) http.Handler {
	if !s.svc.Security.Enabled {
		return docs // nobody gets a 401 here
	}
	lead := *rt
	lead.Public = true
	rate := route.ConsoleRate
	lead.AddressLimit = &rate
	lead.Limit = s.svc.Security.RateLimits.For(&lead)
	redirect := s.chain(&lead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r); info != nil {
			info.Status = http.StatusSeeOther
		}
		const to = ConsolePath + "#/docs"
		body := []byte(`<!doctype html><title>API reference</title><p>The API reference is in the <a href="` + to + `">console</a>.</p>` + "\n")
		h := w.Header()
		h.Set("Location", to)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusSeeOther)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	}))
	return chained(func(w http.ResponseWriter, r *http.Request) {
		if s.browserWithoutCredentials(r) {
			redirect.ServeHTTP(w, r)
			return
		}
		docs.ServeHTTP(w, r)
	})
}

// browserWithoutCredentials reports whether r is a browser's navigation
// that carries no credential: it accepts text/html, and has no API key
// header and no Authorization header.
func (s *Server) browserWithoutCredentials(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) > 0 || (s.auth != nil && len(r.Header.Values(s.auth.header)) > 0) {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/html" {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); params["q"] != "" && (err != nil || q <= 0) {
				continue
			}
			return true
		}
	}
	return false
}
