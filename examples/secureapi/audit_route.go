// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net/http"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// demoPipeline is the pipeline the custom route starts.
const demoPipeline = "secure_demo_pipeline"

// addExecuteWithAudit adds the original example's custom route: it reads
// the pipeline's inputs exactly as its execute route does
// (Server.ReadInputs: the same 400, 413, 415 and 422 answers), starts the
// pipeline, then records a custom audit event that names the run. Being
// added with Server.Handle, it gets the same authentication, rate limit,
// ACL check (execute on secure_demo_pipeline) and request audit as the
// built-in routes, and an intent record before it runs.
func addExecuteWithAudit(srv *httpapi.Server) error {
	route := httpapi.Route{
		Method:      http.MethodPost,
		Path:        "/execute-with-audit",
		OperationID: "execute_with_audit",
		Action:      httpapi.ActionExecute,
		Pipeline:    demoPipeline,
		Limit:       &httpapi.Rate{N: 10, Per: time.Minute},
	}
	return srv.Handle(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in securedemo.SecureDemoPipelineInput
		if err := srv.ReadInputs(r, demoPipeline, &in); err != nil {
			srv.WriteError(w, r, err)
			return
		}
		run, err := securedemo.StartSecureDemoPipeline(r.Context(), srv.Engine(), in, runtime.StartOptions{Owner: httpapi.RunOwner(r)})
		if err != nil {
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the run could not be started")
			return
		}
		httpapi.SetRunID(r, run.ID()) // the request's audit record names the run too
		ev := httpapi.Event{
			Type:       "execute_pipeline",
			PipelineID: demoPipeline,
			RunID:      run.ID(),
			Success:    true,
			Details:    map[string]any{"input_length": len([]rune(in.Data))},
		}
		if err := srv.AuditEvent(r, ev); err != nil {
			// No run goes on that its event does not describe; the
			// intent record and the request record (503, with the run
			// id) show what happened.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			_, _ = srv.Engine().Cancel(ctx, run.ID())
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the audit log cannot be written")
			return
		}
		w.Header().Set("Location", "/runs/"+run.ID())
		httpapi.WriteJSON(w, r, http.StatusAccepted, map[string]string{"run_id": run.ID(), "status": "started"})
	}))
}
