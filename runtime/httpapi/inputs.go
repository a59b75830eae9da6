// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/taskwire/taskwire/runtime/schema"
)

// InputError is why a request body is refused as a pipeline's inputs, as
// the pipeline's execute route refuses it: Status is 415 for a content
// type other than UTF-8 JSON, 413 for a body over the server's limit, 400
// for a body that is not a well-formed instance of the inputs (malformed
// JSON or UTF-8, trailing data, a duplicate key, an unknown or missing
// field, a value of the wrong type) and 422 for a value that breaks a
// constraint of the spec (lengths count characters, not bytes). Errors
// names the offending fields. Server.WriteError answers it as that
// problem response.
type InputError struct {
	Status int
	Detail string
	Errors []FieldError
}

func (e *InputError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("%d: %s", e.Status, e.Detail)
	}
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.String()
	}
	return fmt.Sprintf("%d: %s: %s", e.Status, e.Detail, strings.Join(msgs, "; "))
}

// ReadInputs reads r's body as the inputs of pipeline pipelineID, checked
// exactly as its execute route checks them (content type, size, strict
// JSON, the spec's types and constraints), and decodes it into v, normally
// a pointer to the pipeline's generated input struct. An empty body is
// {}. A body the execute route would refuse is an *InputError; any other
// error (pipelineID is not a pipeline of the server, v does not fit) is
// the program's. It is for user routes (Server.Handle) that take a
// pipeline's inputs; answer its error with WriteError.
func (s *Server) ReadInputs(r *http.Request, pipelineID string, v any) error {
	pl := s.pipelines[pipelineID]
	if pl == nil {
		return fmt.Errorf("httpapi: ReadInputs of %q, which is not a pipeline of this server", pipelineID)
	}
	if err := contentTypeError(r); err != nil {
		return err
	}
	body, err := s.inputs(r, pl)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("httpapi: ReadInputs of %q: the validated body does not decode: %w", pipelineID, err)
	}
	return nil
}

// WriteError answers err: an *InputError (from ReadInputs) as the problem
// response the execute route gives for it; any other error as 500, with
// err logged and not shown to the client.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var ie *InputError
	if errors.As(err, &ie) {
		writeProblem(w, r, ie.Status, ie.Detail, ie.Errors...)
		return
	}
	s.log.Error("taskwire: request failed", "path", r.URL.Path, "err", err)
	writeProblem(w, r, http.StatusInternalServerError, "internal error")
}

// DecodeInputs reads r's body into a T with s.ReadInputs (T is normally
// the pipeline's generated input struct). On failure it writes the problem
// response (s.WriteError) and returns false.
func DecodeInputs[T any](s *Server, w http.ResponseWriter, r *http.Request, pipelineID string) (T, bool) {
	var in T
	if err := s.ReadInputs(r, pipelineID, &in); err != nil {
		s.WriteError(w, r, err)
		return in, false
	}
	return in, true
}

// jsonBody answers 415 unless r's body is JSON (or has no content type).
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	if err := contentTypeError(r); err != nil {
		writeProblem(w, r, err.Status, err.Detail)
		return false
	}
	return true
}

// contentTypeError is the 415 of a body that is not UTF-8 JSON (no content
// type is JSON), or nil.
func contentTypeError(r *http.Request) *InputError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/problem+json") {
			return &InputError{Status: http.StatusUnsupportedMediaType, Detail: "send the inputs as application/json"}
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			// JSON exchanged between systems is UTF-8 (RFC 8259 section 8.1).
			return &InputError{Status: http.StatusUnsupportedMediaType, Detail: fmt.Sprintf("charset %q is not accepted: send the inputs as UTF-8 JSON (application/json, or charset=utf-8)", cs)}
		}
	}
	return nil
}

// readInputs reads r's body and validates it strictly against pl's input
// schema, answering 400, 413 or 422 (naming every offending field) when it
// does not match. An empty body is {}.
func (s *Server) readInputs(w http.ResponseWriter, r *http.Request, pl *pipeline) ([]byte, bool) {
	body, err := s.inputs(r, pl)
	if err != nil {
		s.WriteError(w, r, err)
		return nil, false
	}
	return body, true
}

// inputs reads r's body and validates it against pl's input schema: an
// *InputError when it does not match.
func (s *Server) inputs(r *http.Request, pl *pipeline) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &InputError{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)}
		}
		return nil, &InputError{Status: http.StatusBadRequest, Detail: "reading the body failed"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := schema.Validate(body, pl.Input); err != nil {
		var verr *schema.Error
		if !errors.As(err, &verr) {
			return nil, fmt.Errorf("the input schema of pipeline %q is invalid: %w", pl.ID, err)
		}
		return nil, &InputError{Status: verr.Status, Detail: "the request body does not match the pipeline's input types", Errors: verr.Errors}
	}
	return body, nil
}
