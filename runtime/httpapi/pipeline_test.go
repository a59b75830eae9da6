// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// GET /pipelines/{id} tells the caller which actions it holds, so that a
// client offers only what the server would allow.
func TestPipelineActions(t *testing.T) {
	actions := func(f *fixture, headers ...string) []string {
		t.Helper()
		var v struct {
			ID      string   `json:"id"`
			Actions []string `json:"actions"`
		}
		f.want(t, req{path: "/pipelines/secure_demo_pipeline", headers: headers}, http.StatusOK).json(t, &v)
		if v.ID != "secure_demo_pipeline" || v.Actions == nil {
			t.Fatalf("pipeline %+v", v)
		}
		return v.Actions
	}
	f := newFixture(t, setup{})
	if got := actions(f, key(adminKey)); !slices.Equal(got, []string{"read", "execute", "write", "all_runs"}) {
		t.Errorf("admin: %v", got)
	}
	if got := actions(f, key(readerKey)); !slices.Equal(got, []string{"read"}) {
		t.Errorf("reader: %v", got)
	}
	// The ACLs decide, not the role's name: grant the viewers execute.
	g := newFixture(t, setup{svc: func(s *httpapi.Service) {
		s.Security.ACLs = append(s.Security.ACLs, httpapi.ACL{Pattern: "secure_*", Execute: []string{"viewer"}})
	}})
	if got := actions(g, key(readerKey)); !slices.Equal(got, []string{"read", "execute"}) {
		t.Errorf("reader with execute granted: %v", got)
	}
	// Without security everyone may do everything.
	open := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security = httpapi.Security{} }})
	if got := actions(open); !slices.Equal(got, []string{"read", "execute", "write", "all_runs"}) {
		t.Errorf("no security: %v", got)
	}
}

// A run's tasks carry when they started and finished: null until then.
func TestRunTaskTimes(t *testing.T) {
	f := newFixture(t, setup{gate: true, svc: unlimited}) // the test polls
	admin := []string{key(adminKey)}
	type task struct {
		Status     string     `json:"status"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	}
	var run struct {
		Status string          `json:"status"`
		Tasks  map[string]task `json:"tasks"`
	}
	id := f.execute(t, "hello")
	f.want(t, req{path: "/runs/" + id, headers: admin}, http.StatusOK).json(t, &run)
	if v := run.Tasks["validate_result"]; v.StartedAt != nil || v.FinishedAt != nil {
		t.Errorf("a task that has not started has times: %+v", v)
	}
	f.release()
	deadline := time.Now().Add(10 * time.Second)
	for run.Status != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("run still %s", run.Status)
		}
		time.Sleep(5 * time.Millisecond)
		f.want(t, req{path: "/runs/" + id, headers: admin}, http.StatusOK).json(t, &run)
	}
	p, v := run.Tasks["process_data"], run.Tasks["validate_result"]
	if p.StartedAt == nil || p.FinishedAt == nil || v.StartedAt == nil || v.FinishedAt == nil {
		t.Fatalf("finished tasks without times: %+v", run.Tasks)
	}
	if p.FinishedAt.Before(*p.StartedAt) || v.StartedAt.Before(*p.FinishedAt) || v.FinishedAt.Before(*v.StartedAt) {
		t.Errorf("times out of order: %+v", run.Tasks)
	}
}
