// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/taskwire/taskwire/runtime/schema"
)

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid field of a request body by its path; see
// schema.FieldError.
type FieldError = schema.FieldError

// The detail of a request without credentials, as the contract fixes it.
const detailNotAuthenticated = "Not authenticated"

// writeProblem writes a problem+json response. Headers set on w before the
// call (WWW-Authenticate, Retry-After, Allow) are kept.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string, errs ...FieldError) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
	if info := infoFrom(r); info != nil {
		p.RequestID = info.RequestID
		info.Status = status
		if info.Outcome == "" {
			info.Outcome = outcomeFor(status)
		}
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: Problem has only strings and ints
		body = []byte(`{"type":"about:blank","status":` + strconv.Itoa(status) + `}`)
	}
	setBodyHeaders(w.Header(), r, "application/problem+json", len(body)+1)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// setBodyHeaders sets Content-Type and Content-Length, their values in the
// request's header array when the chain serves it.
func setBodyHeaders(h http.Header, r *http.Request, ctype string, n int) {
	info := infoFrom(r)
	if info == nil {
		h.Set("Content-Type", ctype)
		h.Set("Content-Length", strconv.Itoa(n))
		return
	}
	v := info.hdr[secHeaders+1:]
	v[0], v[1] = ctype, strconv.Itoa(n)
	h["Content-Type"], h["Content-Length"] = v[0:1:1], v[1:2:2]
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	writeJSONBody(w, r, status, append(body, '\n'))
}

// writeJSONBody writes an encoded JSON response (with its newline).
func writeJSONBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if info := infoFrom(r); info != nil {
		info.Status = status
	}
	setBodyHeaders(w.Header(), r, "application/json", len(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// outcomeFor names the audit outcome of a status.
func outcomeFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "unauthenticated"
	case status == http.StatusForbidden:
		return "denied"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status >= 500:
		return "error"
	case status >= 400:
		return "rejected"
	}
	return "ok"
}

// WriteProblem writes an RFC 9457 problem+json error response, for user
// routes added with Server.Handle; it carries the request id and feeds the
// audit record like the built-in routes' errors.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	writeProblem(w, r, status, detail)
}

// WriteJSON writes v as a JSON response, for user routes.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	writeJSON(w, r, status, v)
}
