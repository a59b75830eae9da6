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
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	if info := infoFrom(r); info != nil {
		info.Status = status
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
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
