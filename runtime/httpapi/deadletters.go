// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/taskwire/taskwire/runtime"
)

// deadLetterView is a dead letter as the HTTP API shows it
// (docs/http-api.md).
type deadLetterView struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
	RunID      string `json:"run_id"`
	Task       string `json:"task"`
	// Index is the element of a map task; null for a task that is not one.
	Index     *int      `json:"index"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Exhausted bool      `json:"exhausted"`
	Time      time.Time `json:"time"`
}

type deadLetterList struct {
	DeadLetters []deadLetterView `json:"dead_letters"`
	NextCursor  string           `json:"next_cursor,omitempty"`
}

func viewDeadLetter(dl runtime.DeadLetter) deadLetterView {
	v := deadLetterView{ID: dl.ID, PipelineID: dl.PipelineID, RunID: dl.RunID, Task: dl.Task,
		Attempts: dl.Deliveries, LastError: dl.PublicReason(), Exhausted: dl.Exhausted, Time: dl.Time.UTC()}
	if dl.Index >= 0 {
		i := dl.Index
		v.Index = &i
	}
	return v
}

// listDeadLetters answers GET /dead-letters: the dead letters of the
// pipelines the caller may write, of its own runs unless it holds
// all_runs, newest first, paged like GET /runs (a page may hold fewer than
// limit when others' dead letters are left out).
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := runtime.DeadLetterListOptions{PipelineID: q.Get("pipeline_id"), Cursor: q.Get("cursor")}
	p := s.principal(r)
	limit, ok := s.pageQuery(w, r, p, ActionWrite, opts.PipelineID)
	if !ok {
		return
	}
	opts.Limit = limit
	opts.Allow = func(id string) bool { return s.policy.allowed(p, ActionWrite, id) }
	page, err := s.engine.DeadLetters(r.Context(), opts)
	if err != nil {
		s.deadLetterError(w, r, err)
		return
	}
	out := deadLetterList{DeadLetters: make([]deadLetterView, 0, len(page.DeadLetters)), NextCursor: page.NextCursor}
	for _, dl := range page.DeadLetters {
		ok, err := s.seesDeadLetter(r, p, dl)
		if err != nil {
			s.deadLetterError(w, r, err)
			return
		}
		if ok {
			out.DeadLetters = append(out.DeadLetters, viewDeadLetter(dl))
		}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// seesDeadLetter reports whether p may see dead letter dl, by its run's
// owner (see policy.seesRun); a dead letter whose run is gone is seen only
// with all_runs.
func (s *Server) seesDeadLetter(r *http.Request, p *Principal, dl runtime.DeadLetter) (bool, error) {
	if !s.policy.enabled || s.policy.allowed(p, ActionAllRuns, dl.PipelineID) {
		return true, nil
	}
	run, err := s.engine.Get(r.Context(), dl.RunID)
	switch {
	case errors.Is(err, runtime.ErrRunNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return s.policy.seesRun(p, run), nil
}

// requeueDeadLetter answers POST /dead-letters/{dead_letter_id}/requeue:
// the execution gets a new delivery in its run, which is running again. A
// dead letter of a pipeline the caller may not read, or of another
// principal's run without all_runs, is 404, like a missing one; one the
// caller may read but not write is 403.
func (s *Server) requeueDeadLetter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("dead_letter_id")
	info := infoFrom(r)
	dl, err := s.engine.DeadLetter(r.Context(), id)
	p := s.principal(r)
	if err == nil && !s.policy.allowed(p, ActionRead, dl.PipelineID) {
		err = runtime.ErrDeadLetterNotFound
	}
	if err == nil {
		var sees bool
		if sees, err = s.seesDeadLetter(r, p, dl); err == nil && !sees {
			err = runtime.ErrDeadLetterNotFound
		}
	}
	if err != nil {
		s.deadLetterError(w, r, err)
		return
	}
	if info != nil {
		info.RunID, info.PipelineID = dl.RunID, dl.PipelineID
	}
	if !s.policy.allowed(p, ActionWrite, dl.PipelineID) {
		s.forbid(w, r, ActionWrite, dl.PipelineID)
		return
	}
	run, err := s.engine.Requeue(r.Context(), id)
	if err != nil {
		s.deadLetterError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, viewRun(run))
}

// rerunRun answers POST /runs/{run_id}/rerun: a new run of the same
// pipeline with the finished run's inputs, answered like an execute (202,
// Location), its rerun_of naming the original.
func (s *Server) rerunRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.readableRun(w, r)
	if !ok {
		return
	}
	if !s.policy.allowed(s.principal(r), ActionExecute, run.PipelineID) {
		s.forbid(w, r, ActionExecute, run.PipelineID)
		return
	}
	again, err := s.engine.Rerun(r.Context(), run.ID, runtime.StartOptions{Owner: s.principal(r).Owner()})
	if err != nil {
		s.deadLetterError(w, r, err)
		return
	}
	if info := infoFrom(r); info != nil {
		info.RunID = again.ID
	}
	w.Header().Set("Location", "/runs/"+again.ID)
	writeJSON(w, r, http.StatusAccepted, map[string]string{"run_id": again.ID, "status": string(again.Status), "rerun_of": run.ID})
}

// deadLetterError maps the errors of dead letters and re-runs, then the
// engine's.
func (s *Server) deadLetterError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, runtime.ErrDeadLetterNotFound):
		writeProblem(w, r, http.StatusNotFound, "no such dead letter")
	case errors.Is(err, runtime.ErrNotRequeueable):
		writeProblem(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, runtime.ErrRunNotFinished):
		writeProblem(w, r, http.StatusConflict, "the run has not finished; only a finished run can be re-run")
	case errors.Is(err, runtime.ErrNoDeadLetterStore):
		writeProblem(w, r, http.StatusNotImplemented, "this server's backend keeps no dead letters")
	default:
		s.engineError(w, r, err)
	}
}
