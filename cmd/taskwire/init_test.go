// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/taskwire/taskwire/internal/testutil"
)

// TestInitBuildsRunsAndTests scaffolds a service and checks that it passes
// what its README promises: go mod tidy, go generate, go build, go vet and
// go test (which drives it over HTTP), with taskwire replaced by this
// checkout; then that its binary scales out, as -role api and -role worker
// on an embedded nats-server.
func TestInitBuildsRunsAndTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a scaffolded module; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hello")

	code, stdout, stderr := runCLI(t, "init", "--module", "example.com/hello", dir)
	if code != exitOK {
		t.Fatalf("init = %d\n%s", code, stderr)
	}
	for _, want := range []string{"Next steps:", "go mod tidy", "go test ./...", "HELLO_API_KEY"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("next steps lack %q:\n%s", want, stdout)
		}
	}
	for _, name := range []string{"go.mod", "main.go", "Makefile", "README.md", "hello/taskwire.yaml", "hello/gen.go", "hello/tasks.go", "hello/server_test.go", "hello/taskwire_server_gen.go", "hello/client/taskwire_client_gen.go"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("not scaffolded: %v", err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, want := range []string{"module example.com/hello", "require github.com/taskwire/taskwire ", "tool github.com/taskwire/taskwire/cmd/taskwire"} {
		if !bytes.Contains(gomod, []byte(want)) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}

	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goCmd("mod", "edit", "-replace", "github.com/taskwire/taskwire="+root)
	goCmd("mod", "tidy")
	before := snapshot(t, dir)
	goCmd("generate", "./...")
	// What init generated in-process is what `go generate` writes.
	if after := snapshot(t, dir); !equalSnapshots(before, after) {
		t.Errorf("go generate changed the files init generated")
	}
	goCmd("build", "./...")
	goCmd("vet", "./...")
	goCmd("test", "-count=1", "./...")
	goCmd("build", "-o", "hello-bin", ".")
	scaffoldScalesOut(t, filepath.Join(dir, "hello-bin"))

	// A second init refuses, names the files and changes nothing.
	before = snapshot(t, dir)
	code, stdout, stderr = runCLI(t, "init", "--module", "example.com/hello", dir)
	if code != exitUsage {
		t.Errorf("second init = %d, want %d", code, exitUsage)
	}
	if stdout != "" || !strings.Contains(stderr, "wrote nothing") || !strings.Contains(stderr, filepath.Join(dir, "hello", "tasks.go")) {
		t.Errorf("second init: stdout %q, stderr:\n%s", stdout, stderr)
	}
	if after := snapshot(t, dir); !equalSnapshots(before, after) {
		t.Errorf("the refused init changed files")
	}

	// go generate stays green when pipelines are added, renamed and
	// removed: it lists the package's files before the directive runs, so
	// generate must delete none of them.
	specFile := filepath.Join(dir, "hello", "taskwire.yaml")
	orig, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(specFile)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			t.Fatalf("the scaffold's spec has no %q", from)
		}
		writeFile(t, specFile, strings.Replace(string(b), from, to, 1))
	}
	edit("\n  welcome:\n", "\n  welcome_again:\n    tasks: [normalize_name, greet]\n  welcome:\n")
	goCmd("generate", "./...")
	goCmd("build", "./...")
	edit("\n  welcome_again:\n    tasks: [normalize_name, greet]\n  welcome:\n", "\n  greeting_flow:\n")
	goCmd("generate", "./...")
	goCmd("build", "./...")
	if b, err := os.ReadFile(filepath.Join(dir, "hello", "taskwire_pipelines_gen.go")); err != nil || !strings.Contains(string(b), "StartGreetingFlow") || strings.Contains(string(b), "Welcome") {
		t.Errorf("after the rename the pipelines file is wrong (%v):\n%s", err, b)
	}
	writeFile(t, specFile, string(orig))
	goCmd("generate", "./...")
}

// TestInitRefusesAnyExistingFile checks that one existing file is enough
// for init to write nothing.
func TestInitRefusesAnyExistingFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Makefile"), "all:\n")
	code, _, stderr := runCLI(t, "init", dir)
	if code != exitUsage || !strings.Contains(stderr, filepath.Join(dir, "Makefile")) {
		t.Fatalf("init = %d, stderr:\n%s", code, stderr)
	}
	got := snapshot(t, dir)
	if len(got) != 1 || got["Makefile"] != "all:\n" {
		t.Errorf("init wrote files: %v", keys(got))
	}
}

func TestInitNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My-Service")
	code, stdout, stderr := runCLI(t, "init", dir)
	if code != exitOK {
		t.Fatalf("init = %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "module My-Service, package myservice") {
		t.Errorf("stdout:\n%s", stdout)
	}
	spec, err := os.ReadFile(filepath.Join(dir, "myservice", "taskwire.yaml"))
	if err != nil || !bytes.Contains(spec, []byte("package: myservice")) || !bytes.Contains(spec, []byte("env: MYSERVICE_API_KEY")) {
		t.Errorf("spec: %v\n%s", err, spec)
	}

	for module, want := range map[string]string{
		"example.com/hello":    "hello",
		"example.com/hello/v2": "hello",
		"github.com/a/go-svc":  "gosvc",
		"example.com/2fa":      "fa",
		"example.com/42":       "service",
		"example.com/type":     "typesvc",
		"example.com/main":     "mainsvc",
		"example.com/context":  "contextsvc",
	} {
		if got := packageName(module); got != want {
			t.Errorf("packageName(%q) = %q, want %q", module, got, want)
		}
	}
	for _, bad := range []string{"", "/abs", "a b", "a//b", "x/../y", "trailing/"} {
		if checkModulePath(bad) == nil {
			t.Errorf("module path %q accepted", bad)
		}
	}
	if code, _, stderr := runCLI(t, "init", "--module", "not a path", t.TempDir()); code != exitUsage || !strings.Contains(stderr, "not a module path") {
		t.Errorf("bad --module: %d\n%s", code, stderr)
	}
	if code, _, _ := runCLI(t, "init"); code != exitUsage {
		t.Errorf("init without DIR = %d", code)
	}
}

// snapshot reads every file under dir, by slash path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// scaffoldScalesOut starts the scaffold's binary as -role api and as
// -role worker against an embedded nats-server, and runs its pipeline over
// HTTP: the API process enqueues, the worker process executes.
func scaffoldScalesOut(t *testing.T, bin string) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	const key = "sk_scaffold_0123456789abcdefghijklmnopqrstuv"
	start := func(args ...string) (*exec.Cmd, *testutil.Buffer) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "HELLO_API_KEY="+key, "TASKWIRE_ROLE=", "TASKWIRE_BROKER=")
		out := &testutil.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, out
	}
	// One process at a time sets up the streams: nats-server (in this
	// test's process, under the race detector) races with itself when two
	// clients update a stream and add its consumer at once.
	_, apiOut := start("-role", "api", "-broker", ns.ClientURL(), "-addr", "127.0.0.1:0")
	var base string
	re := regexp.MustCompile(`Serving on (http://[^ ]+) \(role api, tasks in nats://`)
	for deadline := time.Now().Add(60 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(apiOut.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("the API process did not start:\n%s", apiOut.String())
	}
	_, workerOut := start("-role", "worker", "-broker", ns.ClientURL())
	if !strings.Contains(workerOut.String(), "Worker executing tasks from nats://") {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !strings.Contains(workerOut.String(), "Worker executing tasks from nats://"); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	req, _ := http.NewRequest("POST", base+"/pipelines/welcome/execute?wait=30s", strings.NewReader(`{"name": "  Ada   Lovelace "}`))
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"succeeded"`) || !strings.Contains(string(body), "Ada Lovelace") {
		t.Fatalf("execute through the api and worker processes: %d %s\napi:\n%s\nworker:\n%s", resp.StatusCode, body, apiOut.String(), workerOut.String())
	}
}
