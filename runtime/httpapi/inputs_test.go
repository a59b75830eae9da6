// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// TestReadInputs drives a user route that reads secure_demo_pipeline's
// inputs with Server.ReadInputs: its errors are *InputError with the
// execute route's status, answered by WriteError as execute answers them;
// a pipeline the server does not have is the program's error, a 500 that
// shows nothing.
func TestReadInputs(t *testing.T) {
	f := newFixture(t, setup{})
	var last error
	for path, pipeline := range map[string]string{"/read-inputs": "secure_demo_pipeline", "/read-unknown": "no_such_pipeline"} {
		err := f.srv.Handle(httpapi.Route{Method: http.MethodPost, Path: path, OperationID: path[1:]}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in securedemo.SecureDemoPipelineInput
			last = f.srv.ReadInputs(r, pipeline, &in)
			if last != nil {
				f.srv.WriteError(w, r, last)
				return
			}
			httpapi.WriteJSON(w, r, http.StatusOK, map[string]string{"data": in.Data})
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	admin := []string{key(adminKey)}
	for _, c := range []struct{ body, contentType string }{
		{`{"data":"x","extra":1}`, "application/json"},
		{`{"data":"x"}`, "text/plain"},
		{`{"data":"x"}`, "application/json; charset=utf-16"},
		{`{"data":5}`, "application/json"},
	} {
		send := func(path string) response {
			r := f.newRequest(t, req{method: http.MethodPost, path: path, body: c.body, headers: admin})
			r.Header.Set("Content-Type", c.contentType)
			resp, err := f.client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
		}
		want := send("/pipelines/secure_demo_pipeline/execute")
		got := send("/read-inputs")
		var ie *httpapi.InputError
		if !errors.As(last, &ie) || ie.Status != want.Status || got.Status != want.Status || got.problem(t).Detail != want.problem(t).Detail {
			t.Errorf("%s (%s): user route %d (%v), execute %d", c.body, c.contentType, got.Status, last, want.Status)
		}
	}
	ok := f.want(t, req{method: http.MethodPost, path: "/read-inputs", body: `{"data":"héllo"}`, headers: admin}, http.StatusOK)
	var v map[string]string
	ok.json(t, &v)
	if v["data"] != "héllo" || last != nil {
		t.Errorf("good body: %v %v", v, last)
	}
	bad := f.want(t, req{method: http.MethodPost, path: "/read-unknown", body: `{"data":"x"}`, headers: admin}, http.StatusInternalServerError)
	var ie *httpapi.InputError
	if errors.As(last, &ie) || bad.problem(t).Detail != "internal error" {
		t.Errorf("unknown pipeline: %v, answered %s", last, bad.Body)
	}
}
