// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net/http"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// addExecuteWithAudit adds the original example's custom route: it reads
// the pipeline's inputs exactly as its execute route does (DecodeInputs),
// records a custom audit event, then starts the pipeline. Being added with
// Server.Handle, it gets the same authentication, rate limit, ACL check
// (execute on secure_demo_pipeline) and request audit as the built-in routes.
func addExecuteWithAudit(srv *httpapi.Server) error {
	route := httpapi.Route{
		Method:      http.MethodPost,
		Path:        "/execute-with-audit",
		OperationID: "execute_with_audit",
		Action:      httpapi.ActionExecute,
		Pipeline:    "secure_demo_pipeline",
		Limit:       &httpapi.Rate{N: 10, Per: time.Minute},
	}
	return srv.Handle(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, ok := httpapi.DecodeInputs[securedemo.SecureDemoPipelineInput](srv, w, r, "secure_demo_pipeline")
		if !ok {
			return
		}
		ev := httpapi.Event{
			Type:       "execute_pipeline",
			PipelineID: "secure_demo_pipeline",
			Success:    true,
			Details:    map[string]any{"input_length": len(in.Data)},
		}
		if err := srv.AuditEvent(r, ev); err != nil {
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the audit log cannot be written")
			return
		}
		run, err := securedemo.StartSecureDemoPipeline(r.Context(), srv.Engine(), in, runtime.StartOptions{Owner: httpapi.RunOwner(r)})
		if err != nil {
			httpapi.WriteProblem(w, r, http.StatusServiceUnavailable, "the run could not be started")
			return
		}
		w.Header().Set("Location", "/runs/"+run.ID())
		httpapi.WriteJSON(w, r, http.StatusAccepted, map[string]string{"run_id": run.ID(), "status": "started"})
	}))
}
