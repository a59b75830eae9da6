// SPDX-License-Identifier: Apache-2.0

package taskwiretest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/schema"
)

// service is a small service like the generated ones: a pipeline echo,
// behind two keys from the environment, one by hash, and HS256 tokens.
func service(t *testing.T) (*runtime.Engine, httpapi.Service) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.RegisterTask("echo", func(ctx context.Context, in runtime.Inputs) (any, error) {
		return runtime.Input[string](in, "text")
	}); err != nil {
		t.Fatal(err)
	}
	p := runtime.Pipeline{
		ID:     "echo",
		Tasks:  []runtime.Task{{Name: "echo", Inputs: []string{"text"}, Output: "echoed"}},
		Inputs: []runtime.Field{{Name: "text", Type: "string", Required: true}},
		Input:  &schema.Schema{Kind: schema.Object, Fields: []schema.Field{{Name: "text", Schema: &schema.Schema{Kind: schema.String}}}},
	}
	if err := reg.RegisterPipeline(p); err != nil {
		t.Fatal(err)
	}
	svc := httpapi.Service{
		Title: "Echo", Version: "1.0.0", OpenAPI: []byte(`{"openapi":"3.0.3"}`),
		Security: httpapi.Security{
			Enabled: true, APIKey: true, JWT: true, APIKeyHeader: "X-API-Key",
			Keys: []httpapi.Key{
				{ID: "admin", Env: "ECHO_ADMIN", Role: "admin", Pipelines: []string{"*"}},
				{ID: "reader", Env: "ECHO_READER", Role: "reader", Pipelines: []string{"*"}},
				{ID: "hashed", SHA256: strings.Repeat("ab", 32), Role: "admin", Pipelines: []string{"*"}},
			},
			JWTConfig: &httpapi.JWT{Algorithm: "HS256", SecretEnv: "ECHO_JWT", Issuer: "https://issuer.test", Audience: "echo", RoleClaim: "roles", PipelinesClaim: "scopes"},
			ACLs:      []httpapi.ACL{{Pattern: "*", Read: []string{"admin", "reader"}, Execute: []string{"admin"}}},
			Audit:     httpapi.Audit{Enabled: true, File: "never-opened.jsonl"},
		},
	}
	return runtime.New(reg), svc
}

func get(t *testing.T, url string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServer(t *testing.T) {
	engine, svc := service(t)
	t.Run("serve", func(t *testing.T) {
		t.Setenv("ECHO_ADMIN", "") // the process environment is never read
		srv := NewServer(t, engine, svc)
		if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || srv.HTTP == nil || srv.Engine != engine {
			t.Fatalf("server %+v", srv)
		}
		admin, reader := srv.Key("admin"), srv.Key("reader")
		if len(admin) < 32 || admin == reader || !strings.HasPrefix(admin, "sk_test_") {
			t.Errorf("keys %q and %q: want two strong, distinct test keys", admin, reader)
		}
		for _, tc := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"no credentials", http.Header{}, http.StatusUnauthorized},
			{"admin key", http.Header{"X-Api-Key": {admin}}, http.StatusOK},
			{"reader key", http.Header{"X-Api-Key": {reader}}, http.StatusOK},
			{"a wrong key", http.Header{"X-Api-Key": {"sk_test_" + strings.Repeat("x", 40)}}, http.StatusUnauthorized},
			{"token", http.Header{"Authorization": {"Bearer " + srv.Token("alice", "admin", "*")}}, http.StatusOK},
			{"token for no pipeline", http.Header{"Authorization": {"Bearer " + srv.Token("bob", "admin", "other_*")}}, http.StatusForbidden},
		} {
			if got := get(t, srv.URL+"/pipelines/echo", tc.header); got != tc.want {
				t.Errorf("%s: GET /pipelines/echo = %d, want %d", tc.name, got, tc.want)
			}
		}
		run, err := engine.Run(context.Background(), "echo", map[string]any{"text": "hi"}, runtime.StartOptions{})
		if err != nil || run.Status != runtime.RunSucceeded {
			t.Fatalf("run = %+v, %v", run, err)
		}
		// Every request is in the test's audit log, not in the spec's file.
		data, err := os.ReadFile(srv.AuditFile)
		if err != nil || strings.Count(string(data), "\n") != 6 || !strings.Contains(string(data), `"admin"`) {
			t.Errorf("audit log (%v):\n%s", err, data)
		}
		if _, err := os.Stat("never-opened.jsonl"); !os.IsNotExist(err) {
			t.Errorf("the spec's audit file was opened (%v)", err)
		}
	})
	// The end of the test shut the engine down.
	if _, err := engine.Start(context.Background(), "echo", map[string]any{"text": "x"}, runtime.StartOptions{}); !errors.Is(err, runtime.ErrShuttingDown) {
		t.Errorf("Start after the test = %v, want ErrShuttingDown", err)
	}
}
