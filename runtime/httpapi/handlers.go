// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/graph"
	"github.com/taskwire/taskwire/runtime/internal/jsonstr"
	"github.com/taskwire/taskwire/runtime/route"
)

// MinWait is the shortest ?wait= an execute request may ask for.
const MinWait = time.Millisecond

// MaxWait is the longest ?wait= an execute request may ask for.
const MaxWait = 60 * time.Second

// MaxPageSize is the largest ?limit= of GET /runs.
const MaxPageSize = 200

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// principal is the caller of r. Only a server without security treats a
// caller as anonymous (who reaches every pipeline); with security on, a
// request without a principal (a route marked public) reaches none.
func (s *Server) principal(r *http.Request) *Principal {
	if p := PrincipalFrom(r); p != nil {
		return p
	}
	if !s.svc.Security.Enabled {
		return anonymous
	}
	return nobody
}

// nobody is the caller of a public route when security is on.
var nobody = &Principal{}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// listBodies are the buffers of GET /pipelines responses, encoded by hand:
// the most frequent request of a typical client costs no allocation here.
var listBodies = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) {
	p := s.principal(r)
	buf := listBodies.Get().(*[]byte)
	body := append((*buf)[:0], `{"pipelines":[`...)
	n := 0
	for _, pl := range s.order {
		if s.policy.allowed(p, ActionRead, pl.ID) {
			if n > 0 {
				body = append(body, ',')
			}
			body = jsonstr.Append(body, pl.ID)
			n++
		}
	}
	body = append(body, "]}\n"...)
	writeJSONBody(w, r, http.StatusOK, body) // Write does not retain body
	if cap(body) <= 64<<10 {
		*buf = body[:0]
		listBodies.Put(buf)
	}
}

// readablePipeline resolves {pipeline_id}: 404 when unknown, 403 when the
// caller may not read it.
func (s *Server) readablePipeline(w http.ResponseWriter, r *http.Request) (*pipeline, bool) {
	id := r.PathValue("pipeline_id")
	if info := infoFrom(r); info != nil {
		info.PipelineID = id
	}
	pl := s.pipelines[id]
	if pl == nil {
		writeProblem(w, r, http.StatusNotFound, "no such pipeline")
		return nil, false
	}
	if !s.policy.allowed(s.principal(r), ActionRead, id) {
		s.forbid(w, r, ActionRead, id)
		return nil, false
	}
	return pl, true
}

type pipelineView struct {
	ID          string             `json:"id"`
	Description string             `json:"description,omitempty"`
	Inputs      []runtime.Field    `json:"inputs"`
	Outputs     []runtime.Field    `json:"outputs"`
	Tasks       []pipelineTaskView `json:"tasks"`
	Timeout     string             `json:"timeout,omitempty"`
	RateLimit   string             `json:"rate_limit,omitempty"`
	// Actions are the actions the caller holds on the pipeline, so that a
	// client (the console) offers only what the server would allow.
	Actions []Action `json:"actions"`
}

type pipelineTaskView struct {
	Name   string   `json:"name"`
	Inputs []string `json:"inputs"`
	Output string   `json:"output"`
	Type   string   `json:"type"`
	Map    string   `json:"map,omitempty"`
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) {
	pl, ok := s.readablePipeline(w, r)
	if !ok {
		return
	}
	v := pipelineView{ID: pl.ID, Description: pl.Description, Inputs: pl.Inputs, Outputs: pl.Outputs, Tasks: make([]pipelineTaskView, len(pl.Tasks)), Actions: []Action{}}
	caller := s.principal(r)
	for _, a := range route.Actions {
		if s.policy.allowed(caller, a, pl.ID) {
			v.Actions = append(v.Actions, a)
		}
	}
	for i, t := range pl.Tasks {
		v.Tasks[i] = pipelineTaskView{Name: t.Name, Inputs: t.Inputs, Output: t.Output, Type: t.Type, Map: t.Map}
	}
	if pl.limit != nil {
		v.RateLimit = pl.limit.String()
	}
	if v.Inputs == nil {
		v.Inputs = []runtime.Field{}
	}
	if pl.Timeout > 0 {
		v.Timeout = pl.Timeout.String()
	}
	writeJSON(w, r, http.StatusOK, v)
}

var graphTypes = map[string]string{"json": "application/json", "mermaid": "text/vnd.mermaid; charset=utf-8", "dot": "text/vnd.graphviz; charset=utf-8", "svg": "image/svg+xml"}

func (s *Server) getGraph(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	ctype, known := graphTypes[format]
	if !known {
		writeProblem(w, r, http.StatusBadRequest, "format must be json, mermaid, dot or svg")
		return
	}
	pl, ok := s.readablePipeline(w, r)
	if !ok {
		return
	}
	body, err := graph.Render(pl.graph, format)
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "rendering the graph failed")
		return
	}
	if info := infoFrom(r); info != nil {
		info.Status = http.StatusOK
	}
	w.Header().Set("Content-Type", ctype)
	if format == "svg" {
		// An image opened on its own is a document: it may load and run nothing.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// execute starts a run from a validated body.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, pl *pipeline) {
	info := infoFrom(r)
	if !jsonBody(w, r) {
		return
	}
	wait, ok := s.waitParam(w, r)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	body, ok := s.readInputs(w, r, pl)
	if !ok {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil { // validated above: cannot fail
		writeProblem(w, r, http.StatusBadRequest, "the body must be a JSON object")
		return
	}
	inputs := make(map[string]any, len(pl.Inputs))
	for _, f := range pl.Inputs {
		raw, present := fields[f.Name]
		if !present {
			raw = json.RawMessage("null")
		}
		inputs[f.Name] = runtime.RawJSON(raw)
	}
	opts := runtime.StartOptions{Owner: s.principal(r).Owner()}
	if key != "" {
		// Scoped to the principal, so that nobody can read another's run by
		// guessing its idempotency key.
		// The auth method is part of the scope: a JWT subject may be
		// spelled like an API key id.
		p := s.principal(r)
		opts.IdempotencyKey = p.Method + "\x00" + p.ID + "\x00" + key
	}
	run, err := s.engine.Start(r.Context(), pl.ID, inputs, opts)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	if info != nil {
		info.RunID = run.ID
	}
	w.Header().Set("Location", "/runs/"+run.ID)
	if wait > 0 && !run.Status.Terminal() {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		finished, err := s.engine.Wait(ctx, run.ID)
		cancel()
		switch {
		case err == nil:
			run = finished
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			if cur, err := s.engine.Get(r.Context(), run.ID); err == nil {
				run = cur
			}
		default:
			s.engineError(w, r, err)
			return
		}
	}
	if wait > 0 && run.Status.Terminal() {
		writeJSON(w, r, http.StatusOK, viewRun(run))
		return
	}
	writeJSON(w, r, http.StatusAccepted, map[string]string{"run_id": run.ID, "status": string(run.Status)})
}

func (s *Server) waitParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	q := r.URL.Query()
	if !q.Has("wait") {
		return 0, true
	}
	d, err := time.ParseDuration(q.Get("wait"))
	if err != nil || d < MinWait || d > MaxWait || len(q["wait"]) > 1 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("wait must be one duration between %s and %s, such as 5s", MinWait, MaxWait))
		return 0, false
	}
	return d, true
}

func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", true
	}
	k := values[0]
	valid := len(values) == 1 && len(k) >= 1 && len(k) <= maxIdempotencyKey
	for i := 0; valid && i < len(k); i++ {
		valid = k[i] > ' ' && k[i] < 0x7f
	}
	if !valid {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("Idempotency-Key must be one header of 1 to %d visible ASCII characters", maxIdempotencyKey))
		return "", false
	}
	return k, true
}

// engineError maps engine errors to responses.
func (s *Server) engineError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, runtime.ErrRunNotFound):
		writeProblem(w, r, http.StatusNotFound, "no such run")
	case errors.Is(err, runtime.ErrUnknownPipeline):
		writeProblem(w, r, http.StatusNotFound, "no such pipeline")
	case errors.Is(err, runtime.ErrInvalidInput):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, runtime.ErrRunFinished):
		writeProblem(w, r, http.StatusConflict, "the run has already finished")
	case errors.Is(err, runtime.ErrIdempotencyKeyReused):
		writeProblem(w, r, http.StatusUnprocessableEntity, "this Idempotency-Key was used with a different body; send a new key for a new request")
	case errors.Is(err, runtime.ErrShuttingDown):
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, http.StatusServiceUnavailable, "the server is shutting down")
	case errors.Is(err, runtime.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, r, http.StatusServiceUnavailable, "the backend is unavailable for now (a broker restart or failover); retry")
	case errors.Is(err, runtime.ErrStoreFull):
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, http.StatusServiceUnavailable, "too many runs are in progress")
	case errors.Is(err, runtime.ErrValueTooLarge):
		writeProblem(w, r, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, runtime.ErrInvalidCursor):
		writeProblem(w, r, http.StatusBadRequest, "cursor is not one this server issued")
	case errors.Is(err, context.Canceled):
		writeProblem(w, r, http.StatusServiceUnavailable, "the request was cancelled")
	default:
		s.log.Error("taskwire: engine error", append(logAttrs(r), "err", err)...)
		writeProblem(w, r, http.StatusInternalServerError, "internal error; the request id identifies it in the server's log")
	}
}

// readableRun resolves {run_id}; a run the caller may not read is 404,
// exactly like a missing one: one of a pipeline it may not read, and
// another principal's run unless it holds all_runs (so that run ids tell
// nothing about others' runs).
func (s *Server) readableRun(w http.ResponseWriter, r *http.Request) (*runtime.Run, bool) {
	id := r.PathValue("run_id")
	info := infoFrom(r)
	if info != nil {
		info.RunID = id
	}
	run, err := s.engine.Get(r.Context(), id)
	if p := s.principal(r); err == nil && (!s.policy.allowed(p, ActionRead, run.PipelineID) || !s.policy.seesRun(p, run)) {
		err = runtime.ErrRunNotFound
	}
	if err != nil {
		s.engineError(w, r, err)
		return nil, false
	}
	if info != nil {
		info.PipelineID = run.PipelineID
	}
	return run, true
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	if run, ok := s.readableRun(w, r); ok {
		writeJSON(w, r, http.StatusOK, viewRun(run))
	}
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.readableRun(w, r)
	if !ok {
		return
	}
	if !s.policy.allowed(s.principal(r), ActionWrite, run.PipelineID) {
		s.forbid(w, r, ActionWrite, run.PipelineID)
		return
	}
	cancelled, err := s.engine.Cancel(r.Context(), run.ID)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, viewRun(cancelled))
}

// maxListPages bounds how many store pages one list request reads to fill a
// page for a caller who may read only some pipelines.
const maxListPages = 8

// pageQuery reads the limit of a listing (runtime.DefaultListLimit when
// absent) and checks its pipeline filter, if any: the pipeline exists and p
// holds action on it. Otherwise it answers 400, 404 or 403 and reports false.
func (s *Server) pageQuery(w http.ResponseWriter, r *http.Request, p *Principal, action Action, pipelineID string) (limit int, ok bool) {
	limit = runtime.DefaultListLimit
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("limit must be between 1 and %d", MaxPageSize))
			return 0, false
		}
		limit = n
	}
	if pipelineID == "" {
		return limit, true
	}
	if info := infoFrom(r); info != nil {
		info.PipelineID = pipelineID
	}
	if s.pipelines[pipelineID] == nil {
		writeProblem(w, r, http.StatusNotFound, "no such pipeline")
		return 0, false
	}
	if !s.policy.allowed(p, action, pipelineID) {
		s.forbid(w, r, action, pipelineID)
		return 0, false
	}
	return limit, true
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := runtime.ListOptions{PipelineID: q.Get("pipeline_id"), Status: runtime.RunStatus(q.Get("status")), Cursor: q.Get("cursor")}
	if opts.Status != "" && !opts.Status.Valid() {
		writeProblem(w, r, http.StatusBadRequest, "status must be one of pending, running, succeeded, failed, cancelled")
		return
	}
	p := s.principal(r)
	limit, ok := s.pageQuery(w, r, p, ActionRead, opts.PipelineID)
	if !ok {
		return
	}
	opts.Limit = limit
	out := runList{Runs: []runView{}}
	for range maxListPages {
		page, err := s.engine.List(r.Context(), opts)
		if err != nil {
			s.engineError(w, r, err)
			return
		}
		for _, run := range page.Runs {
			if s.policy.allowed(p, ActionRead, run.PipelineID) && s.policy.seesRun(p, run) {
				out.Runs = append(out.Runs, viewRun(run))
			}
		}
		out.NextCursor = page.NextCursor
		if len(out.Runs) > 0 || page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	writeJSON(w, r, http.StatusOK, out)
}

type runList struct {
	Runs       []runView `json:"runs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// runView is a run as the HTTP API shows it (docs/http-api.md): unset times
// and errors are null, outputs an object; a task's own error text is
// replaced by the stable message naming its error id (driver.PublicError).
type runView struct {
	RunID      string                   `json:"run_id"`
	PipelineID string                   `json:"pipeline_id"`
	Status     runtime.RunStatus        `json:"status"`
	CreatedAt  time.Time                `json:"created_at"`
	StartedAt  *time.Time               `json:"started_at"`
	FinishedAt *time.Time               `json:"finished_at"`
	Tasks      map[string]taskView      `json:"tasks"`
	Outputs    map[string]runtime.Value `json:"outputs"`
	Error      *string                  `json:"error"`
	// RerunOf is the run this one re-runs (POST /runs/{run_id}/rerun).
	RerunOf string `json:"rerun_of,omitempty"`
}

type taskView struct {
	Status     runtime.TaskStatus `json:"status"`
	Attempts   int                `json:"attempts"`
	Error      *string            `json:"error"`
	StartedAt  *time.Time         `json:"started_at"`
	FinishedAt *time.Time         `json:"finished_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func viewRun(run *runtime.Run) runView {
	v := runView{
		RunID: run.ID, PipelineID: run.PipelineID, Status: run.Status,
		CreatedAt: run.CreatedAt.UTC(), StartedAt: optTime(run.StartedAt), FinishedAt: optTime(run.FinishedAt),
		Tasks: make(map[string]taskView, len(run.Tasks)), Outputs: run.Outputs, Error: optString(run.PublicError()),
		RerunOf: run.RerunOf,
	}
	if v.Outputs == nil {
		v.Outputs = map[string]runtime.Value{}
	}
	for name, t := range run.Tasks {
		v.Tasks[name] = taskView{Status: t.Status, Attempts: t.Attempts, Error: optString(t.PublicError()), StartedAt: optTime(t.StartedAt), FinishedAt: optTime(t.FinishedAt)}
	}
	return v
}
