// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime/keyfile"
)

func runWithEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(&env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}, args)
	return code, out.String(), errOut.String()
}

const tokenSpec = `taskwire: 1
package: tokdemo
tasks:
  work: {inputs: {x: string}, output: y, type: string}
pipelines:
  job: {tasks: [work]}
security:
  auth: [jwt]
  jwt:
    secret_env: TOKDEMO_SECRET
    algorithms: [HS384, HS256]
    issuer: [https://auth.tokdemo.example, https://old.tokdemo.example]
    audience: tokdemo-api
    role_claim: roles
    pipelines_claim: allowed
`

func TestTokenReadsTheSpec(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "taskwire.yaml")
	writeFile(t, path, tokenSpec)
	secret := strings.Repeat("s", 40)
	code, out, errOut := runWithEnv(t, map[string]string{"TOKDEMO_SECRET": secret}, "token", "--spec", path, "--sub", "alice", "--role", "admin", "--pipelines", "*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS384"})).ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil || !tok.Valid {
		t.Fatalf("token %q: %v", out, err)
	}
	if claims["iss"] != "https://auth.tokdemo.example" || claims["aud"] != "tokdemo-api" || claims["roles"] == nil || claims["allowed"] == nil || claims["role"] != nil {
		t.Errorf("claims %v", claims)
	}
	// Explicit flags still win.
	code, out, errOut = runWithEnv(t, map[string]string{"OTHER": secret}, "token", "--spec", path, "--sub", "bob", "--secret-env", "OTHER", "--issuer", "https://old.tokdemo.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	claims = jwt.MapClaims{}
	if _, err := jwt.NewParser().ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil || claims["iss"] != "https://old.tokdemo.example" {
		t.Fatalf("claims %v, %v", claims, err)
	}
	// The spec's secret variable, unset.
	if code, _, errOut := runWithEnv(t, nil, "token", "--spec", path, "--sub", "alice"); code != exitUsage || !strings.Contains(errOut, "TOKDEMO_SECRET") {
		t.Errorf("unset secret: exit %d, %s", code, errOut)
	}
	// A spec whose tokens come from an identity provider.
	oidc := filepath.Join(dir, "oidc.yaml")
	writeFile(t, oidc, strings.Replace(strings.Replace(tokenSpec, "secret_env: TOKDEMO_SECRET", "discovery: true", 1), "algorithms: [HS384, HS256]", "algorithms: [RS256]", 1))
	if code, _, errOut := runWithEnv(t, nil, "token", "--spec", oidc, "--sub", "alice"); code != exitUsage || !strings.Contains(errOut, "identity provider") {
		t.Errorf("OIDC spec: exit %d, %s", code, errOut)
	}
	// An invalid spec.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "taskwire: 1\n")
	if code, _, _ := runWithEnv(t, nil, "token", "--spec", bad, "--sub", "alice"); code != exitInvalid {
		t.Errorf("invalid spec: exit %d", code)
	}
}

func TestKeygenAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	var keys []string
	for _, id := range []string{"ci_deploy", "reports_bot"} {
		code, out, errOut := runWithEnv(t, nil, "keygen", "--append", path, "--id", id, "--role", "admin", "--pipelines", "*,report_*", "--expires", "2027-06-30")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		key := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[0], "key:"))
		keys = append(keys, key)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(string(data), k) {
			t.Fatal("the keys file holds a key")
		}
	}
	entries, err := keyfile.Read(path)
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %v, %v\n%s", entries, err, data)
	}
	for i, e := range entries {
		sum := sha256.Sum256([]byte(keys[i]))
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Role != "admin" || len(e.Pipelines) != 2 || e.Expires.IsZero() {
			t.Errorf("entry %+v", e)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--append", path, "--id", "ci_deploy", "--role", "admin", "--pipelines", "*"}, exitInvalid, "already in the file"},
		{[]string{"--append", path, "--role", "admin", "--pipelines", "*"}, exitUsage, "--id"},
		{[]string{"--append", path, "--id", "x", "--pipelines", "*"}, exitUsage, "--role"},
		{[]string{"--append", path, "--id", "x", "--role", "admin"}, exitUsage, "--pipelines"},
		{[]string{"--append", path, "--id", "Bad", "--role", "admin", "--pipelines", "*"}, exitInvalid, "snake_case"},
		{[]string{"--append", path, "--id", "x", "--role", "admin", "--pipelines", "*", "--expires", "soon"}, exitUsage, "--expires"},
		{[]string{"--id", "x"}, exitUsage, "--append"},
	} {
		code, _, errOut := runWithEnv(t, nil, append([]string{"keygen"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("keygen %v: exit %d, %s; want %d with %q", c.args, code, errOut, c.code, c.want)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Error("a refused append changed the file")
	}
}
