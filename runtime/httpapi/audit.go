// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/taskwire/taskwire/runtime/audit"
)

// maxAuditPath bounds the request path recorded in the audit log.
const maxAuditPath = 512

// WithAuditLogger makes the server write its audit records to l instead of
// opening the spec's audit file. The server does not close l.
func WithAuditLogger(l *audit.Logger) Option { return func(c *config) { c.audit = l } }

// Event is a custom audit event recorded by a user route, like Taskiq-Flow's
// AuditLogger.log_access: the principal, request id and client address come
// from the request.
type Event struct {
	Type       string // what happened, for example "execute_pipeline"
	PipelineID string
	RunID      string
	Success    bool
	Details    map[string]any // never put credentials here
}

// AuditEvent records ev for the request r (which must be served by this
// server) and returns once it is written as the log's sync mode says (see
// Audit.Sync). With the audit log disabled it does nothing. An error means
// the event could not be recorded; the route should then fail without
// acting, as the built-in routes do when their intent record fails.
func (s *Server) AuditEvent(r *http.Request, ev Event) error {
	if s.audit == nil {
		return nil
	}
	switch ev.Type {
	case "":
		return errors.New("httpapi: an audit event needs a type")
	case audit.TypeRequest, audit.TypeIntent:
		return fmt.Errorf("httpapi: %q is a record type of the audit log itself; name the event after what happened", ev.Type)
	}
	rec := s.auditRecord(r, infoFrom(r), 0)
	rec.Type, rec.Action, rec.PipelineID, rec.RunID, rec.Details = ev.Type, ev.Type, ev.PipelineID, ev.RunID, ev.Details
	rec.Status, rec.Detail, rec.Intent = 0, "", 0 // the request record answers the intent
	rec.Outcome = "ok"
	if !ev.Success {
		rec.Outcome = "failed"
	}
	return s.audit.Log(rec)
}

func (s *Server) auditRecord(r *http.Request, info *requestInfo, status int) audit.Record {
	rec := audit.Record{Type: audit.TypeRequest, Method: r.Method, Path: r.URL.Path, Status: status, Time: s.now().UTC()}
	if len(rec.Path) > maxAuditPath {
		rec.Path = rec.Path[:maxAuditPath]
	}
	if info != nil {
		rec.RequestID, rec.ClientIP, rec.AuthMethod = info.RequestID, info.clientIP(), info.AuthMethod
		rec.PipelineID, rec.RunID, rec.Detail, rec.Intent = info.PipelineID, info.RunID, info.Detail, info.Intent
		if info.Principal != nil {
			rec.Principal = info.Principal.ID
		}
		if info.Route != nil {
			rec.Route = info.Route.OperationID
			rec.Action = string(info.Route.Action)
		}
		rec.Outcome = info.Outcome
	}
	if rec.Outcome == "" || (rec.Outcome == "ok" && status >= 400) {
		rec.Outcome = outcomeFor(status)
	}
	return rec
}

// auditWriter holds a response back until its audit record is written (as
// the log's sync mode says), so that no request is answered unrecorded; if
// the record cannot be written the client gets 503 instead. A streaming response (one that flushes) is
// recorded when it first flushes, then passes through.
type auditWriter struct {
	w         http.ResponseWriter
	s         *Server
	r         *http.Request
	info      *requestInfo
	status    int
	buf       *[]byte // the held response, from heldBodies
	streaming bool
	failed    bool
}

// heldBodies are the buffers of held responses: a response is copied out
// (ResponseWriter.Write does not retain its argument) before its buffer
// goes back.
var heldBodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody bounds the buffers kept in heldBodies.
const maxPooledBody = 64 << 10

// held returns the held response so far.
func (a *auditWriter) held() []byte {
	if a.buf == nil {
		return nil
	}
	return *a.buf
}

// release gives the buffer back once the response is out.
func (a *auditWriter) release() {
	if a.buf != nil && cap(*a.buf) <= maxPooledBody {
		*a.buf = (*a.buf)[:0]
		heldBodies.Put(a.buf)
	}
	a.buf = nil
}

func (a *auditWriter) Header() http.Header { return a.w.Header() }

func (a *auditWriter) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	switch {
	case a.failed:
		return 0, errAuditUnavailable
	case a.streaming:
		return a.w.Write(b)
	}
	if a.buf == nil {
		a.buf = heldBodies.Get().(*[]byte)
	}
	*a.buf = append(*a.buf, b...)
	return len(b), nil
}

var errAuditUnavailable = errors.New("audit log unavailable")

// restart drops a held response that has not been sent, so that the panic
// handler can answer 500 instead; it reports false once bytes are out.
func (a *auditWriter) restart() bool {
	if a.streaming || a.failed {
		return false
	}
	a.status = 0
	if a.buf != nil {
		*a.buf = (*a.buf)[:0]
	}
	h := a.w.Header()
	for k := range h {
		delete(h, k)
	}
	return true
}

// startWriter notes whether a response (without an audit log holding it
// back) has started, so that a panic after the first byte aborts the
// connection instead of appending an error to a half-sent response.
type startWriter struct {
	http.ResponseWriter
	started bool
	status  int
}

func (s *startWriter) WriteHeader(status int) {
	if !s.started {
		s.status = status
	}
	s.started = true
	s.ResponseWriter.WriteHeader(status)
}

func (s *startWriter) Write(b []byte) (int, error) {
	if !s.started {
		s.status = http.StatusOK
	}
	s.started = true
	return s.ResponseWriter.Write(b)
}

// FlushError flushes the underlying writer.
func (s *startWriter) FlushError() error {
	if !s.started {
		s.status = http.StatusOK
	}
	s.started = true
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (s *startWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// FlushError records the request and switches to streaming.
func (a *auditWriter) FlushError() error {
	if a.failed {
		return errAuditUnavailable
	}
	if !a.streaming {
		if !a.commit() {
			return errAuditUnavailable
		}
		a.streaming = true
		if _, err := a.w.Write(a.held()); err != nil { // what was written before the first flush
			return err
		}
		a.release()
	}
	return http.NewResponseController(a.w).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (a *auditWriter) Unwrap() http.ResponseWriter { return a.w }

// intend writes the intent record of a state-changing request before its
// handler runs; when it cannot, it answers 503 and reports false, and the
// handler must not run.
func (a *auditWriter) intend() bool {
	rec := a.s.auditRecord(a.r, a.info, 0)
	rec.Type, rec.Outcome = audit.TypeIntent, audit.OutcomePending
	if rec.RunID == "" {
		rec.RunID = a.r.PathValue("run_id") // the run a cancel is about
	}
	seq, err := a.s.audit.Append(rec)
	if err != nil {
		a.refuse(err)
		return false
	}
	a.info.Intent = seq
	return true
}

// commit writes the audit record and then the held response; on an audit
// failure it answers 503 instead.
func (a *auditWriter) commit() bool {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.summarized() {
		a.w.WriteHeader(a.status)
		return true
	}
	if err := a.s.audit.Log(a.s.auditRecord(a.r, a.info, a.status)); err != nil {
		a.refuse(err)
		return false
	}
	a.w.WriteHeader(a.status)
	return true
}

// refuse answers 503 in place of the held response: the audit log cannot
// be written.
func (a *auditWriter) refuse(err error) {
	a.failed = true
	a.s.log.Error("taskwire: audit log unavailable; refusing the request", append(logAttrs(a.r), "err", err)...)
	h := a.w.Header()
	for k := range h {
		delete(h, k)
	}
	setSecurityHeaders(h)
	h.Set("X-Request-Id", a.info.RequestID)
	h.Set("Retry-After", "30")
	h.Set("Content-Type", "application/problem+json")
	body := []byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the audit log cannot be written","request_id":` + strconv.Quote(a.info.RequestID) + "}\n")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	a.w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = a.w.Write(body)
}

// finish records a request that did not stream and releases its response.
func (a *auditWriter) finish() {
	if a.streaming || a.failed {
		return
	}
	if a.commit() {
		_, _ = a.w.Write(a.held())
	}
}

// audited runs serve with its response held until the request's audit
// record is written (directly when the audit log is off).
func (s *Server) audited(w http.ResponseWriter, r *http.Request, info *requestInfo, serve func(http.ResponseWriter)) {
	if s.audit == nil {
		info.sw = startWriter{ResponseWriter: w}
		serve(&info.sw)
		return
	}
	info.aw = auditWriter{w: w, s: s, r: r, info: info}
	a := &info.aw
	defer a.release()
	if err := s.audit.Err(); err != nil {
		// The log has failed closed: refuse before the handler runs, so
		// that nothing (a run started, a run cancelled) happens unrecorded.
		a.refuse(err)
		return
	}
	defer func() {
		// A handler that aborts its response (panic(http.ErrAbortHandler),
		// which the chain passes on) is still recorded.
		if p := recover(); p != nil {
			if !a.streaming && !a.failed {
				a.info.Outcome = "aborted"
				if a.status == 0 {
					a.status = http.StatusInternalServerError
				}
				if err := a.s.audit.Log(a.s.auditRecord(a.r, a.info, a.status)); err != nil {
					a.s.log.Error("taskwire: audit log unavailable", append(logAttrs(a.r), "err", err)...)
				}
			}
			panic(p)
		}
	}()
	serve(a)
	a.finish()
}
