// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// Two clients share one address (a NAT): one guesses keys until the
// address's failed-authentication budget is spent; the other, with a valid
// key, keeps working, while the guesser keeps getting 429.
func TestLockoutSparesValidCredentials(t *testing.T) {
	s := newSecServer(t, func(svc *httpapi.Service) {
		svc.Security.JWT = true
		svc.Security.JWTConfig = &httpapi.JWT{Algorithm: "HS256", SecretEnv: "JWT_SECRET"}
	}, httpapi.WithGetenv(func(name string) string {
		if name == "JWT_SECRET" {
			return jwtSecret
		}
		return secEnv(name)
	}))
	const nat = "203.0.113.50:" // both clients' address; ports differ
	guesser, user := nat+"40001", nat+"40002"
	for i := range 10 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: fmt.Sprintf("sk_guess_%040d", i), remote: guesser}), http.StatusUnauthorized, fmt.Sprintf("guess %d", i+1))
	}
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: "sk_guess_after_the_budget_0000000000000", remote: guesser}), http.StatusTooManyRequests, "guess past the budget")

	// The user's valid key works, again and again, from the same address.
	for i := range 3 {
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey, remote: user}), http.StatusOK, fmt.Sprintf("valid key %d from the shared address", i+1))
	}
	// The guesser keeps getting 429, never 401 (no answer about its guess),
	// and its guesses do not lengthen the user's wait: there is none.
	for i := range 20 {
		w := s.do(t, secReq{path: "/pipelines", key: fmt.Sprintf("sk_more_%040d", i), remote: guesser})
		secWantStatus(t, w, http.StatusTooManyRequests, "guess while throttled")
		if w.Header().Get("WWW-Authenticate") != "" || w.Header().Get("Retry-After") == "" {
			t.Fatalf("throttled guess: headers %v", w.Header())
		}
		secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey, remote: user}), http.StatusOK, "valid key between guesses")
	}
	// Without credentials, the throttled address gets 429 too.
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", remote: user}), http.StatusTooManyRequests, "no credentials from the throttled address")

	// Bearer tokens: one the server verified before keeps working from the
	// throttled address; one it never saw gets 429 without being verified,
	// valid or not.
	now := s.clock.Now()
	mint := func(sub string, secret string) string {
		c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "role": "admin", "pipelines": []string{"*"}}
		return sign(t, jwt.SigningMethodHS256, []byte(secret), c)
	}
	withToken := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	used := mint("carol", jwtSecret)
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", header: withToken(used), remote: "192.0.2.77:1"}), http.StatusOK, "token used elsewhere first")
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", header: withToken(used), remote: user}), http.StatusOK, "token verified before, from the throttled address")
	fresh := mint("dave", jwtSecret)
	w := s.do(t, secReq{path: "/pipelines", header: withToken(fresh), remote: user})
	secWantStatus(t, w, http.StatusTooManyRequests, "valid token never verified, from the throttled address")
	if !strings.Contains(w.Body.String(), "too many failed authentications") {
		t.Errorf("body %s", w.Body.String())
	}
	forged := mint("carol", strings.Repeat("f", 40))
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", header: withToken(forged), remote: guesser}), http.StatusTooManyRequests, "forged token from the throttled address")
	// The cached token stops working when it expires.
	s.clock.Advance(11 * time.Minute)
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: "sk_guess_keeps_it_spent_000000000000000", remote: guesser}), http.StatusUnauthorized, "a guess after the bucket refilled")
	for i := range 10 {
		s.do(t, secReq{path: "/pipelines", key: fmt.Sprintf("sk_again_%040d", i), remote: guesser})
	}
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", header: withToken(used), remote: user}), http.StatusTooManyRequests, "expired cached token")
	// Other addresses are not affected at all.
	secWantStatus(t, s.do(t, secReq{path: "/pipelines", header: withToken(fresh), remote: "192.0.2.78:1"}), http.StatusUnauthorized, "the fresh token, now expired, elsewhere")
}
