// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// inProcessServer builds the generated server for in-process requests:
// audit off, no rate limits, a fixed clock.
func inProcessServer(tb testing.TB, now time.Time, edit func(*httpapi.Service)) *httpapi.Server {
	tb.Helper()
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, &tasks{}); err != nil {
		tb.Fatal(err)
	}
	svc := testService()
	svc.Security.RateLimits = nil
	if edit != nil {
		edit(&svc)
	}
	srv, err := httpapi.New(testEngine(tb, reg), svc,
		httpapi.WithGetenv(getenvFrom(testEnv)),
		httpapi.WithClock(func() time.Time { return now }),
		httpapi.WithLogger(quietLog),
		httpapi.WithAuthFailureLimit(httpapi.Rate{N: 1 << 30, Per: time.Hour}),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// status serves GET /pipelines with the given raw header values (nil: absent).
func status(srv *httpapi.Server, headers map[string][]string) int {
	r := httptest.NewRequest("GET", "/pipelines", nil)
	for k, v := range headers {
		if v != nil {
			r.Header[k] = v
		}
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w.Code
}

// FuzzCredentials sends arbitrary X-API-Key and Authorization values to a
// server accepting both keys and HS256 tokens: it never panics, answers
// 200 only for exactly the admin key (HTTP white space aside) or exactly the
// valid token, and otherwise 401.
func FuzzCredentials(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	srv := inProcessServer(f, now, func(s *httpapi.Service) {
		s.Security.JWT = true
		s.Security.JWTConfig = jwtConfig("HS256", "")
	})
	valid := sign(f, jwt.SigningMethodHS256, []byte(jwtSecret), claims(now))
	seeds := [][2]string{
		{adminKey, ""}, {"", "Bearer " + valid}, {" " + adminKey + "\t", ""}, {adminKey + "x", ""},
		{adminKey[1:], ""}, {strings.ToUpper(adminKey), ""}, {"", "Bearer"}, {"", "bearer " + valid},
		{adminKey, "Bearer " + valid}, {"", "Basic YWRtaW46YWRtaW4="}, {strings.Repeat("k", 600), ""},
		{"\x00" + adminKey, ""}, {adminKey + ", " + viewerKey, ""}, {"", "Bearer " + valid + "x"},
		{"", "Bearer " + valid[:len(valid)-2]}, {"", "ApiKey " + adminKey},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, apiKey, auth string) {
		h := map[string][]string{}
		if apiKey != "" {
			h["X-Api-Key"] = []string{apiKey}
		}
		if auth != "" {
			h["Authorization"] = []string{auth}
		}
		code := status(srv, h)
		keyOK := strings.Trim(apiKey, " \t") == adminKey || strings.Trim(apiKey, " \t") == viewerKey || strings.Trim(apiKey, " \t") == readerKey
		scheme, tok, _ := strings.Cut(strings.TrimSpace(auth), " ")
		tokenOK := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) == valid
		var allowed bool
		switch {
		case apiKey != "" && auth != "":
			allowed = false // the key ids never equal the token's subject "alice"
		case apiKey != "":
			allowed = keyOK
		case auth != "":
			allowed = tokenOK
		}
		switch {
		case code == http.StatusOK && !allowed:
			t.Fatalf("authenticated with X-API-Key %q, Authorization %q", apiKey, auth)
		case code != http.StatusOK && allowed:
			t.Fatalf("status %d for good credentials X-API-Key %q, Authorization %q", code, apiKey, auth)
		case code != http.StatusOK && code != http.StatusUnauthorized:
			t.Fatalf("status %d for X-API-Key %q, Authorization %q", code, apiKey, auth)
		}
	})
}

// FuzzJWT sends arbitrary bearer tokens to an HS256 and an RS256 server:
// verification never panics and never authenticates anything but the
// exact valid token.
func FuzzJWT(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	hs := inProcessServer(f, now, jwtOnly(jwtConfig("HS256", "")))
	rk := testRSAKey(f)
	pubPath, pemBytes := writePEM(f, &rk.PublicKey)
	rs := inProcessServer(f, now, jwtOnly(jwtConfig("RS256", pubPath)))

	validHS := sign(f, jwt.SigningMethodHS256, []byte(jwtSecret), claims(now))
	validRS := sign(f, jwt.SigningMethodRS256, rk, claims(now))
	expired := claims(now)
	expired["exp"] = now.Add(-time.Hour).Unix()
	noExp := claims(now)
	delete(noExp, "exp")
	seeds := []string{
		validHS, validRS, "", "a.b.c", "....", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(now)),
		sign(f, jwt.SigningMethodHS256, pemBytes, claims(now)),
		sign(f, jwt.SigningMethodHS256, []byte(jwtSecret), expired),
		sign(f, jwt.SigningMethodHS256, []byte(jwtSecret), noExp),
		sign(f, jwt.SigningMethodHS512, []byte(jwtSecret), claims(now)),
		strings.Repeat("A", httpapi.MaxTokenBytes+1),
		validHS[:len(validHS)-1], validRS + "=",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, c := range []struct {
			srv   *httpapi.Server
			valid string
		}{{hs, validHS}, {rs, validRS}} {
			code := status(c.srv, map[string][]string{"Authorization": {"Bearer " + token}})
			good := strings.TrimSpace(token) == c.valid
			switch {
			case code == http.StatusOK && !good:
				t.Fatalf("token %q authenticated", token)
			case code != http.StatusOK && good:
				t.Fatalf("valid token refused: %d", code)
			case code != http.StatusOK && code != http.StatusUnauthorized:
				t.Fatalf("status %d for token %q", code, token)
			}
		}
	})
}
