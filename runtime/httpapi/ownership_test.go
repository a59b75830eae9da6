// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

const secondReaderKey = "sk_reader2_0123456789abcdefghijklmnopqrs"

// Two API keys of one role do not see each other's runs; a role granted
// all_runs does.
func TestRunOwnershipTwoKeysOfOneRole(t *testing.T) {
	testEnv["TASKWIRE_KEY_READER_TWO"] = secondReaderKey
	f := newFixture(t, setup{gate: true, svc: func(s *httpapi.Service) {
		s.Security.Keys = append(s.Security.Keys, httpapi.Key{ID: "reader_two", Env: "TASKWIRE_KEY_READER_TWO", Role: "viewer", Pipelines: []string{"*"}})
		s.Security.ACLs = append(s.Security.ACLs, httpapi.ACL{Pattern: "*", Execute: []string{"viewer"}, Write: []string{"viewer"}})
	}})
	a, b := []string{key(readerKey)}, []string{key(secondReaderKey)}
	r := f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"mine"}`, headers: a}, http.StatusAccepted)
	var started struct {
		RunID string `json:"run_id"`
	}
	r.json(t, &started)
	id := started.RunID

	f.want(t, req{path: "/runs/" + id, headers: a}, http.StatusOK)
	onlyOwnerSees(t, f, id, a, b)
	// The demo's admin holds all_runs: it sees and cancels the reader's run.
	f.want(t, req{path: "/runs/" + id, headers: []string{key(adminKey)}}, http.StatusOK)
	if body := f.want(t, req{path: "/runs", headers: []string{key(adminKey)}}, http.StatusOK).Body; !strings.Contains(string(body), id) {
		t.Errorf("admin with all_runs does not list the run: %s", body)
	}
	f.want(t, req{method: "POST", path: "/runs/" + id + "/cancel", headers: []string{key(adminKey)}}, http.StatusOK)
}

// Two JWT subjects of one role do not see each other's runs; a token of a
// role granted all_runs does. A run's owner is the token's subject and
// issuer, not its role.
func TestRunOwnershipTwoJWTSubjects(t *testing.T) {
	f := newFixture(t, setup{gate: true, svc: func(s *httpapi.Service) {
		jwtOnly(jwtConfig("HS256", ""))(s)
		s.Security.ACLs = append(s.Security.ACLs, httpapi.ACL{Pattern: "*", Execute: []string{"viewer"}, Write: []string{"viewer"}})
	}})
	token := func(sub, role string) []string {
		c := claims(f.clock.Now())
		c["sub"], c["role"] = sub, role
		return []string{bearer(sign(t, jwt.SigningMethodHS256, []byte(jwtSecret), c))}
	}
	alice, bob := token("alice", "viewer"), token("bob", "viewer")
	var started struct {
		RunID string `json:"run_id"`
	}
	f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"alice's"}`, headers: alice}, http.StatusAccepted).json(t, &started)
	id := started.RunID

	// A new token of the same subject is the same owner.
	f.want(t, req{path: "/runs/" + id, headers: token("alice", "viewer")}, http.StatusOK)
	onlyOwnerSees(t, f, id, alice, bob)
	// The demo's admin role holds all_runs, whatever the subject.
	admin := token("carol", "admin")
	if body := f.want(t, req{path: "/runs", headers: admin}, http.StatusOK).Body; !strings.Contains(string(body), id) {
		t.Errorf("a token of the admin role (all_runs) does not list the run: %s", body)
	}
	f.want(t, req{method: "POST", path: "/runs/" + id + "/cancel", headers: admin}, http.StatusOK)
}

// onlyOwnerSees checks that run id is in its owner's list and that the
// other principal, of the same role, neither lists it nor reaches it: get,
// events, cancel and rerun answer 404, as for a missing run.
func onlyOwnerSees(t *testing.T, f *fixture, id string, owner, other []string) {
	t.Helper()
	if body := f.want(t, req{path: "/runs", headers: owner}, http.StatusOK).Body; !strings.Contains(string(body), id) {
		t.Errorf("the owner's list lacks its run: %s", body)
	}
	if body := f.want(t, req{path: "/runs", headers: other}, http.StatusOK).Body; strings.Contains(string(body), id) {
		t.Errorf("another principal of the same role lists the run: %s", body)
	}
	for _, q := range []req{
		{path: "/runs/" + id, headers: other},
		{path: "/runs/" + id + "/events", headers: other},
		{method: "POST", path: "/runs/" + id + "/cancel", headers: other},
		{method: "POST", path: "/runs/" + id + "/rerun", headers: other},
	} {
		f.want(t, q, http.StatusNotFound)
	}
}
