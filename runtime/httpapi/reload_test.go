// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/keyfile"
)

// Keys that live only in keys files: the file holds their hashes.
const (
	fileKeyA = "sk_file_a_0123456789abcdefghijklmnopqrstuv"
	fileKeyB = "sk_file_b_0123456789abcdefghijklmnopqrstuv"
)

func sumOf(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

// writeKeys replaces the keys file at path with the entries, the way an
// editor or a deployment tool does: a new file renamed over the old one.
func writeKeys(t testing.TB, path string, entries ...keyfile.Entry) {
	t.Helper()
	var data []byte
	for _, e := range entries {
		var err error
		if data, err = keyfile.Append(path, data, e); err != nil {
			t.Fatal(err)
		}
	}
	writeRaw(t, path, data)
}

func writeRaw(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func entry(id, key, role string) keyfile.Entry {
	return keyfile.Entry{ID: id, SHA256: sumOf(key), Role: role, Pipelines: []string{"*"}}
}

// eventually polls cond every few milliseconds for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) status(t testing.TB, headers ...string) int {
	t.Helper()
	return f.do(t, req{path: "/pipelines/secure_demo_pipeline", headers: headers}).Status
}

func TestKeysFileEditedWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, entry("file_a", fileKeyA, "admin"))
	var mu sync.Mutex
	var results []error
	f := newFixture(t, setup{
		svc: func(s *httpapi.Service) { s.Security.KeysFile = path },
		opts: []httpapi.Option{httpapi.WithKeysFilePoll(5 * time.Millisecond), httpapi.WithReloadHook(func(err error) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, err)
		})},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.srv.WatchReloads(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if got := f.status(t, key(fileKeyA)); got != http.StatusOK {
		t.Fatalf("key from the file at start: %d", got)
	}
	if got := f.status(t, key(adminKey)); got != http.StatusOK {
		t.Fatalf("key from the spec: %d", got)
	}
	if got := f.status(t, key(fileKeyB)); got != http.StatusUnauthorized {
		t.Fatalf("key not yet in the file: %d", got)
	}

	// An added key works without a restart.
	writeKeys(t, path, entry("file_a", fileKeyA, "admin"), entry("file_b", fileKeyB, "viewer"))
	eventually(t, "the added key works", func() bool { return f.status(t, key(fileKeyB)) == http.StatusOK })
	if got := f.status(t, key(fileKeyA)); got != http.StatusOK {
		t.Fatalf("the old key after the addition: %d", got)
	}
	// Its role is the file's: a viewer cannot execute.
	f.want(t, req{method: "POST", path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"x"}`, headers: []string{key(fileKeyB)}}, http.StatusForbidden)

	// A removed key is refused.
	writeKeys(t, path, entry("file_b", fileKeyB, "viewer"))
	eventually(t, "the removed key is refused", func() bool { return f.status(t, key(fileKeyA)) == http.StatusUnauthorized })
	r := f.want(t, req{path: "/pipelines", headers: []string{key(fileKeyA)}}, http.StatusUnauthorized)
	if p := r.problem(t); p.Detail != "invalid API key" {
		t.Errorf("detail %q", p.Detail)
	}

	// A broken file is refused as a whole: the keys in use stay.
	failuresBefore := f.srv.ReloadStats().Failures
	writeRaw(t, path, []byte("keys:\n  file_c:\n    sha256: "+sumOf(fileKeyA)+"\n    role: admin\n  file_b: [oops\n"))
	eventually(t, "the broken file is refused", func() bool { return f.srv.ReloadStats().Failures > failuresBefore })
	if got := f.status(t, key(fileKeyB)); got != http.StatusOK {
		t.Fatalf("the kept key after a broken file: %d", got)
	}
	if got := f.status(t, key(fileKeyA)); got != http.StatusUnauthorized {
		t.Fatalf("a key of the broken file was taken: %d", got)
	}

	// A file entry whose id the spec has is refused too, and so is a
	// file that disappeared.
	failuresBefore = f.srv.ReloadStats().Failures
	writeKeys(t, path, entry("admin_full", fileKeyA, "admin"))
	eventually(t, "the clashing id is refused", func() bool { return f.srv.ReloadStats().Failures > failuresBefore })
	if got := f.status(t, key(fileKeyA)); got != http.StatusUnauthorized {
		t.Fatalf("the clashing entry was taken: %d", got)
	}
	failuresBefore = f.srv.ReloadStats().Failures
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing file is refused", func() bool { return f.srv.ReloadStats().Failures > failuresBefore })
	if got := f.status(t, key(fileKeyB)); got != http.StatusOK {
		t.Fatalf("the kept key after the file went away: %d", got)
	}

	// Fixed again: in use at once.
	writeKeys(t, path, entry("file_a", fileKeyA, "admin"))
	eventually(t, "the fixed file is used", func() bool { return f.status(t, key(fileKeyA)) == http.StatusOK })
	if got := f.status(t, key(fileKeyB)); got != http.StatusUnauthorized {
		t.Fatalf("the key left out of the fixed file: %d", got)
	}

	mu.Lock()
	defer mu.Unlock()
	var ok, failed int
	for _, err := range results {
		if err == nil {
			ok++
			continue
		}
		failed++
		for _, secret := range []string{fileKeyA, fileKeyB, adminKey} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("reload error leaks a key: %v", err)
			}
		}
	}
	st := f.srv.ReloadStats()
	if ok == 0 || failed < 3 || uint64(ok) != st.Reloads || uint64(failed) != st.Failures {
		t.Errorf("hook saw %d ok and %d failed reloads; stats %+v", ok, failed, st)
	}
}

func TestKeysFileAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeRaw(t, bad, []byte("keys:\n  x:\n    sha256: "+strings.Repeat("0", 63)+"\n    role: admin\n"))
	for _, c := range []struct{ name, file, want string }{
		{"missing", filepath.Join(dir, "missing.yaml"), "missing.yaml"},
		{"invalid", bad, "bad.yaml:3:13"},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc := testService()
			svc.Security.KeysFile = c.file
			_, err := httpapi.New(testEngine(t, demoRegistry(t)), svc, httpapi.WithGetenv(getenvFrom(testEnv)), httpapi.WithLogger(quietLog))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error naming %q", err, c.want)
			}
		})
	}
	// A keys file is enough: the spec need not define keys.
	good := filepath.Join(dir, "good.yaml")
	writeKeys(t, good, entry("file_a", fileKeyA, "admin"))
	f := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security.Keys = nil; s.Security.KeysFile = good }})
	if got := f.status(t, key(fileKeyA)); got != http.StatusOK {
		t.Fatalf("file key: %d", got)
	}
}

// demoRegistry is a registry of the secure demo's pipelines.
func demoRegistry(t testing.TB) *runtime.Registry {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, &tasks{}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// lockedEnv is an environment tests change while a server runs.
type lockedEnv struct {
	mu sync.Mutex
	m  map[string]string
}

func newLockedEnv(m map[string]string) *lockedEnv {
	c := map[string]string{}
	for k, v := range m {
		c[k] = v
	}
	return &lockedEnv{m: c}
}

func (e *lockedEnv) get(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[name]
}

func (e *lockedEnv) set(name, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if value == "" {
		delete(e.m, name)
		return
	}
	e.m[name] = value
}

func TestJWTSecretRotationWindow(t *testing.T) {
	const (
		oldSecret   = "jwt-old-secret-0123456789abcdefghijklmnopqrstuvwxyz"
		newSecret   = "jwt-new-secret-0123456789abcdefghijklmnopqrstuvwxyz"
		otherSecret = "jwt-other-secret-0123456789abcdefghijklmnopqrstuvwx"
	)
	env := newLockedEnv(testEnv)
	env.set("JWT_SECRET", oldSecret)
	cfg := jwtConfig("HS256", "")
	cfg.PreviousSecretEnv = "JWT_SECRET_PREVIOUS"
	f := newFixture(t, setup{svc: jwtOnly(cfg), opts: []httpapi.Option{httpapi.WithGetenv(env.get)}})
	now := f.clock.Now()
	tokOld := sign(t, jwt.SigningMethodHS256, []byte(oldSecret), claims(now))
	tokNew := sign(t, jwt.SigningMethodHS256, []byte(newSecret), claims(now))
	tokOther := sign(t, jwt.SigningMethodHS256, []byte(otherSecret), claims(now))
	check := func(t *testing.T, stage string, want map[string]int) {
		t.Helper()
		for name, tok := range map[string]string{"old": tokOld, "new": tokNew, "other": tokOther} {
			if got := f.status(t, bearer(tok)); got != want[name] {
				t.Errorf("%s: token signed with the %s secret: %d, want %d", stage, name, got, want[name])
			}
		}
	}
	check(t, "before the rotation", map[string]int{"old": 200, "new": 401, "other": 401})

	// The window opens: the new secret is current, the old one previous.
	env.set("JWT_SECRET", newSecret)
	env.set("JWT_SECRET_PREVIOUS", oldSecret)
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	check(t, "during the rotation", map[string]int{"old": 200, "new": 200, "other": 401})

	// A previous secret too short is refused, and nothing changes.
	env.set("JWT_SECRET_PREVIOUS", "short")
	if err := f.srv.Reload(); err == nil || !strings.Contains(err.Error(), "JWT_SECRET_PREVIOUS") || strings.Contains(err.Error(), "short") {
		t.Fatalf("Reload with a short previous secret: %v", err)
	}
	check(t, "after a refused reload", map[string]int{"old": 200, "new": 200, "other": 401})

	// The window closes: only the new secret verifies.
	env.set("JWT_SECRET_PREVIOUS", "")
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	check(t, "after the rotation", map[string]int{"old": 401, "new": 200, "other": 401})
	r := f.want(t, req{path: "/pipelines", headers: []string{bearer(tokOld)}}, http.StatusUnauthorized)
	if d := r.problem(t).Detail; !strings.Contains(d, "signature") {
		t.Errorf("detail %q", d)
	}
}

func TestReloadWithoutSecurity(t *testing.T) {
	f := newFixture(t, setup{svc: func(s *httpapi.Service) { s.Security.Enabled = false }})
	if err := f.srv.Reload(); !errors.Is(err, httpapi.ErrSecurityDisabled) {
		t.Fatalf("Reload: %v", err)
	}
}
