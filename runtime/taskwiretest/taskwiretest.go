// SPDX-License-Identifier: Apache-2.0

// Package taskwiretest serves a generated service over real HTTP in a Go
// test, with credentials made for the test, so that tests drive it exactly
// as callers do: through the generated client, or any HTTP client.
//
//	engine, err := hello.NewEngine(hello.Impl{})
//	if err != nil {
//		t.Fatal(err)
//	}
//	srv := taskwiretest.NewServer(t, engine, hello.Service())
//	c, err := client.New(srv.URL, client.WithAPIKey(srv.Key("admin")))
//
// For task code alone, without HTTP, the generated Run<Pipeline> function
// runs a pipeline in memory with typed inputs and outputs in one call.
package taskwiretest

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// shutdownGrace bounds the shutdown of a test server's HTTP server and
// engine when the test ends.
const shutdownGrace = 10 * time.Second

// Server is a generated service served by an httptest.Server.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:PORT.
	URL string
	// HTTP is the service's HTTP server, for Handle, AuditEvent and the like.
	HTTP *httpapi.Server
	// Engine runs the service's pipelines.
	Engine *runtime.Engine
	// AuditFile is the audit log, in a temporary directory of the test.
	AuditFile string

	t         testing.TB
	svc       httpapi.Service
	keys      map[string]string // key id -> key, for the keys read from the environment
	jwtSecret string
}

// NewServer serves svc (the generated package's Service()) over engine on an
// httptest.Server. Every API key of the spec that is read from an
// environment variable gets a strong random key made for this test (Key
// returns it), an HMAC JWT secret likewise (Token signs with it), and the
// audit log goes to a temporary directory; the process environment is not
// read. opts go to httpapi.New after those (WithLogger, WithClock, ...).
// When the test ends, the HTTP server, the service and engine are shut
// down, and the audit log closed. A key given only by its sha256 cannot be
// made: requests cannot authenticate as it.
func NewServer(t testing.TB, engine *runtime.Engine, svc httpapi.Service, opts ...httpapi.Option) *Server {
	t.Helper()
	s := &Server{Engine: engine, t: t, svc: svc, keys: map[string]string{}}
	env := map[string]string{}
	for _, k := range svc.Security.Keys {
		if k.Env == "" {
			continue
		}
		key := env[k.Env]
		if key == "" {
			key = "sk_test_" + rand.Text() + rand.Text()
			env[k.Env] = key
		}
		s.keys[k.ID] = key
	}
	if j := svc.Security.JWTConfig; j != nil && j.SecretEnv != "" {
		s.jwtSecret = rand.Text() + rand.Text()
		env[j.SecretEnv] = s.jwtSecret
	}
	s.AuditFile = filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(s.AuditFile, audit.Options{})
	if err != nil {
		t.Fatalf("taskwiretest: %v", err)
	}
	all := append([]httpapi.Option{
		httpapi.WithGetenv(func(name string) string { return env[name] }),
		httpapi.WithAuditLogger(log),
	}, opts...)
	srv, err := httpapi.New(engine, svc, all...)
	if err != nil {
		log.Close()
		t.Fatalf("taskwiretest: %v", err)
	}
	s.HTTP = srv
	ts := httptest.NewServer(srv)
	s.URL = ts.URL
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("taskwiretest: shut down the server: %v", err)
		}
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("taskwiretest: shut down the engine: %v", err)
		}
		if err := log.Close(); err != nil {
			t.Errorf("taskwiretest: close the audit log: %v", err)
		}
	})
	return s
}

// Key returns the API key made for the spec's key id (security.keys.<id>),
// failing the test when the spec has no such key read from the
// environment.
func (s *Server) Key(id string) string {
	t := s.t
	t.Helper()
	k, ok := s.keys[id]
	if !ok {
		var ids []string
		for id := range s.keys {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		t.Fatalf("taskwiretest: the spec has no key %q read from the environment (its keys: %s)", id, strings.Join(ids, ", "))
	}
	return k
}

// Token returns a bearer token for the principal sub with role and the
// pipeline patterns pipelines, valid for an hour, signed with the JWT secret
// made for the test and carrying the spec's issuer, audience and claim
// names. It fails the test when the spec has no HMAC JWT configuration.
func (s *Server) Token(sub, role string, pipelines ...string) string {
	t := s.t
	t.Helper()
	j := s.svc.Security.JWTConfig
	if j == nil || s.jwtSecret == "" {
		t.Fatal("taskwiretest: the spec has no JWT configuration with secret_env")
	}
	alg := first(j.Algorithm, j.Algorithms)
	var method jwt.SigningMethod
	switch alg {
	case "HS256", "":
		method = jwt.SigningMethodHS256
	case "HS384":
		method = jwt.SigningMethodHS384
	case "HS512":
		method = jwt.SigningMethodHS512
	default:
		t.Fatalf("taskwiretest: Token signs HMAC tokens; the spec's algorithm is %s", alg)
	}
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if iss := first(j.Issuer, j.Issuers); iss != "" {
		claims["iss"] = iss
	}
	if aud := first(j.Audience, j.Audiences); aud != "" {
		claims["aud"] = aud
	}
	claims[claimName(j.RoleClaim, "role")] = role
	claims[claimName(j.PipelinesClaim, "pipelines")] = pipelines
	tok, err := jwt.NewWithClaims(method, claims).SignedString([]byte(s.jwtSecret))
	if err != nil {
		t.Fatalf("taskwiretest: sign a token: %v", err)
	}
	return tok
}

func claimName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// first returns one, or else the first of list.
func first(one string, list []string) string {
	if one == "" && len(list) > 0 {
		return list[0]
	}
	return one
}
