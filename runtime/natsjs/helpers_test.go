// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/internal/fault"
	"github.com/taskwire/taskwire/runtime/schema"
)

// Worker processes are this test binary re-executed with these variables.
const (
	envWorker = "TASKWIRE_NATSJS_TEST_WORKER"
	envURL    = "TASKWIRE_NATSJS_TEST_URL"
	envDir    = "TASKWIRE_NATSJS_TEST_DIR"
	envConc   = "TASKWIRE_NATSJS_TEST_CONC"
	// envFault is POINT:N: the worker (or API process) SIGKILLs itself
	// the Nth time it reaches fault point POINT.
	envFault = "TASKWIRE_NATSJS_TEST_FAULT"
	// envOnlyPass3 makes a worker process register pass3 alone; envUnknown
	// sets its WithUnknownTaskTimeout.
	envOnlyPass3 = "TASKWIRE_NATSJS_TEST_ONLY_PASS3"
	envUnknown   = "TASKWIRE_NATSJS_TEST_UNKNOWN_TIMEOUT"
	// envMaxDeliver overrides testOptions' MaxDeliver in this process and
	// the processes it starts.
	envMaxDeliver = "TASKWIRE_NATSJS_TEST_MAX_DELIVER"
	// envAckWait overrides testOptions' AckWait in the same way.
	envAckWait = "TASKWIRE_NATSJS_TEST_ACK_WAIT"
	// envAPI makes the process an API process serving pass3 over HTTP
	// (security off) and writing its address to api-addr in envDir.
	envAPI = "TASKWIRE_NATSJS_TEST_API"
	// envReplicas sets testOptions' Replicas (the cluster test).
	envReplicas = "TASKWIRE_NATSJS_TEST_REPLICAS"
)

// apiMain runs an API process (an engine without workers behind an HTTP
// server) until SIGTERM or until its parent goes away.
func apiMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	dir := os.Getenv(envDir)
	setFault()
	b, err := Connect(ctx, os.Getenv(envURL), testOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		return 1
	}
	defer b.Close()
	reg := runtime.NewRegistry()
	if err := registerPass3(reg); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		return 1
	}
	opts := []runtime.Option{runtime.WithBackend(b), runtime.WithWorkers(0)}
	if d, err := time.ParseDuration(os.Getenv(envReconcile)); err == nil {
		opts = append(opts, runtime.WithReconcileInterval(d))
	}
	e := runtime.New(reg, opts...)
	defer e.Shutdown(context.Background())
	if err := e.Resume(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "api: resume:", err)
	}
	srv, err := httpapi.New(e, httpapi.Service{Title: "natsjs test"}, httpapi.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		return 1
	}
	tmp := filepath.Join(dir, "api-addr.tmp")
	if os.WriteFile(tmp, []byte(l.Addr().String()), 0o644) != nil || os.Rename(tmp, filepath.Join(dir, "api-addr")) != nil {
		return 1
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o644)
	if err := srv.Serve(ctx, l, "", ""); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		return 1
	}
	return 0
}

// testOptions are shared by the test API and worker processes: a short
// AckWait so that a killed worker's task is redelivered quickly.
func testOptions() Options {
	maxDeliver := 3
	if n, err := strconv.Atoi(os.Getenv(envMaxDeliver)); err == nil {
		maxDeliver = n
	}
	ackWait := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv(envAckWait)); err == nil {
		ackWait = d
	}
	replicas, _ := strconv.Atoi(os.Getenv(envReplicas))
	return Options{
		AckWait:    ackWait,
		MaxDeliver: maxDeliver,
		Replicas:   replicas,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		os.Exit(workerMain())
	}
	if os.Getenv(envAPI) == "1" {
		os.Exit(apiMain())
	}
	if os.Getenv(envServer) == "1" {
		os.Exit(serverMain())
	}
	os.Exit(m.Run())
}

// workerMain runs a worker process until SIGTERM or until its parent goes
// away (stdin closes).
// setFault makes the process SIGKILL itself where envFault says.
func setFault() {
	spec := os.Getenv(envFault)
	if spec == "" {
		return
	}
	point, n, _ := strings.Cut(spec, ":")
	times, _ := strconv.Atoi(n)
	var reached atomic.Int64
	fault.Set(func(p fault.Point) {
		if string(p) == point && reached.Add(1) == int64(times) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
}

func workerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() { // the test process died or closed our stdin
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	dir := os.Getenv(envDir)
	conc, _ := strconv.Atoi(os.Getenv(envConc))
	setFault()
	if prof := os.Getenv("TASKWIRE_NATSJS_TEST_CPUPROFILE"); prof != "" { // for finding where a worker's time goes
		f, err := os.Create(fmt.Sprintf("%s.%d", prof, os.Getpid()))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	b, err := Connect(ctx, os.Getenv(envURL), testOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer b.Close()
	reg := testRegistry(dir)
	if os.Getenv(envOnlyPass3) == "1" {
		reg = runtime.NewRegistry()
		if err := registerPass3(reg); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 1
		}
	}
	opts := []runtime.Option{runtime.WithBackend(b), runtime.WithWorkers(max(conc, 1))}
	if d, err := time.ParseDuration(os.Getenv(envUnknown)); err == nil {
		opts = append(opts, runtime.WithUnknownTaskTimeout(d))
	}
	w, err := runtime.NewWorker(reg, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o644)
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

// pass3 is a chain that adds 1 at each task: its output tells whether
// every task ran on the right input. It has an input schema, so that an
// HTTP server can serve it (see apiMain).
var pass3 = runtime.Pipeline{
	ID:      "pass3",
	Inputs:  []runtime.Field{{Name: "in", Type: "int", Required: true}},
	Outputs: []runtime.Field{{Name: "q2", Type: "int", Required: true}},
	Tasks: []runtime.Task{
		{Name: "p0", Inputs: []string{"in"}, Output: "q0", Type: "int"},
		{Name: "p1", Inputs: []string{"q0"}, Output: "q1", Type: "int"},
		{Name: "p2", Inputs: []string{"q1"}, Output: "q2", Type: "int"},
	},
	Input: &schema.Schema{Kind: schema.Object, Name: "Pass3Input", Fields: []schema.Field{{Name: "in", Schema: &schema.Schema{Kind: schema.Int}}}},
}

func registerPass3(reg *runtime.Registry) error {
	inc := func(input string) runtime.TaskFunc {
		return func(_ context.Context, in runtime.Inputs) (any, error) {
			n, err := runtime.Input[int](in, input)
			return n + 1, err
		}
	}
	return errors.Join(
		reg.RegisterTask("p0", inc("in")),
		reg.RegisterTask("p1", inc("q0")),
		reg.RegisterTask("p2", inc("q1")),
		reg.RegisterPipeline(pass3),
	)
}

// testRegistry registers the test pipelines; dir is where tasks leave
// marker files and the execution log.
func testRegistry(dir string) *runtime.Registry {
	reg := runtime.NewRegistry()
	pid := os.Getpid()
	logExec := func(in runtime.Inputs, task string) {
		f, err := os.OpenFile(filepath.Join(dir, "exec.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %d %d\n", in.RunID(), task, pid, in.Attempt())
			f.Close()
		}
	}
	marker := func(name, content string) { // atomic: readers never see it half written
		tmp := filepath.Join(dir, name+".tmp")
		if os.WriteFile(tmp, []byte(content), 0o644) == nil {
			_ = os.Rename(tmp, filepath.Join(dir, name))
		}
	}
	step := func(name, input string) runtime.TaskFunc {
		return func(ctx context.Context, in runtime.Inputs) (any, error) {
			prev, err := runtime.Input[string](in, input)
			if err != nil {
				return nil, err
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			logExec(in, name)
			return fmt.Sprintf("%s|%s@%d", prev, name, pid), nil
		}
	}
	noop := func(_ context.Context, in runtime.Inputs) (any, error) { return 1, nil }
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(reg.RegisterTask("a", step("a", "in")))
	must(reg.RegisterTask("b", step("b", "va")))
	must(reg.RegisterTask("c", step("c", "vb")))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "chain", Inputs: []runtime.Field{{Name: "in", Type: "any", Required: true}}, Outputs: []runtime.Field{{Name: "vc", Type: "any", Required: true}}, Tasks: []runtime.Task{
		{Name: "a", Inputs: []string{"in"}, Output: "va"},
		{Name: "b", Inputs: []string{"va"}, Output: "vb"},
		{Name: "c", Inputs: []string{"vb"}, Output: "vc"},
	}}))

	for _, n := range []string{"n0", "n1", "n2"} {
		must(reg.RegisterTask(n, noop))
	}
	must(registerPass3(reg))
	must(registerMaps(reg))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "noop3", Inputs: []runtime.Field{{Name: "in", Type: "any", Required: true}}, Tasks: []runtime.Task{
		{Name: "n0", Inputs: []string{"in"}, Output: "o0"},
		{Name: "n1", Inputs: []string{"o0"}, Output: "o1"},
		{Name: "n2", Inputs: []string{"o1"}, Output: "o2"},
	}}))

	// block: the first attempt blocks until its worker is killed. Each
	// attempt leaves the TaskInfo of its ctx in a marker.
	must(reg.RegisterTask("block", func(ctx context.Context, in runtime.Inputs) (any, error) {
		info, ok := runtime.TaskInfoFrom(ctx)
		marker(fmt.Sprintf("info-%s-%d", in.RunID(), in.Attempt()), fmt.Sprintf("%t %s %s %s %d %d %d", ok, info.RunID, info.PipelineID, info.Task, info.Attempt, info.Index, pid))
		marker(fmt.Sprintf("started-%s-%d", in.RunID(), in.Attempt()), strconv.Itoa(pid))
		if in.Attempt() == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		logExec(in, "block")
		return fmt.Sprintf("block@%d", pid), nil
	}))
	must(reg.RegisterTask("after", step("after", "vblock")))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "block", Tasks: []runtime.Task{
		{Name: "block", Output: "vblock"},
		{Name: "after", Inputs: []string{"vblock"}, Output: "vafter"},
	}}))

	// hang: every attempt blocks until its worker is killed.
	must(reg.RegisterTask("hang", func(ctx context.Context, in runtime.Inputs) (any, error) {
		marker(fmt.Sprintf("hang-%s-%d", in.RunID(), in.Attempt()), strconv.Itoa(pid))
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "hang", Tasks: []runtime.Task{{Name: "hang", Output: "vhang"}}}))

	// gate: waits until the test opens the gate.
	must(reg.RegisterTask("gate", func(ctx context.Context, in runtime.Inputs) (any, error) {
		marker("gate-started-"+in.RunID(), strconv.Itoa(pid))
		for {
			if _, err := os.Stat(filepath.Join(dir, "gate-open")); err == nil {
				logExec(in, "gate")
				return fmt.Sprintf("gated@%d", pid), nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "gate", Tasks: []runtime.Task{{Name: "gate", Output: "vgate"}}}))
	// thengate: the gate as the second task, a continuation of the first.
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "thengate", Inputs: []runtime.Field{{Name: "in", Type: "any", Required: true}}, Tasks: []runtime.Task{
		{Name: "n0", Inputs: []string{"in"}, Output: "o0"},
		{Name: "gate", Inputs: []string{"o0"}, Output: "vgate"},
	}}))

	// wait: runs until cancelled, and says so.
	must(reg.RegisterTask("wait", func(ctx context.Context, in runtime.Inputs) (any, error) {
		marker("wait-started-"+in.RunID(), strconv.Itoa(pid))
		<-ctx.Done()
		marker("wait-cancelled-"+in.RunID(), fmt.Sprintf("%d %v", pid, context.Cause(ctx)))
		return nil, ctx.Err()
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "wait", Tasks: []runtime.Task{{Name: "wait", Output: "vwait"}}}))

	// fail: a retryable error forever; more attempts than MaxDeliver allows.
	must(reg.RegisterTask("fail", func(ctx context.Context, in runtime.Inputs) (any, error) {
		return nil, errors.New("always fails")
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "fail", Tasks: []runtime.Task{
		{Name: "fail", Output: "vfail", Retry: runtime.RetryPolicy{Attempts: 10, Backoff: 20 * time.Millisecond}},
	}}))
	// perm: a permanent error, terminated at once.
	must(reg.RegisterTask("perm", func(ctx context.Context, in runtime.Inputs) (any, error) {
		return nil, runtime.Permanent(errors.New("bad input"))
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "perm", Tasks: []runtime.Task{
		{Name: "perm", Output: "vperm", Retry: runtime.RetryPolicy{Attempts: 5}},
	}}))
	// thenperm: a permanent error in the second task, which has no retries.
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "thenperm", Inputs: []runtime.Field{{Name: "in", Type: "any", Required: true}}, Tasks: []runtime.Task{
		{Name: "n0", Inputs: []string{"in"}, Output: "o0"},
		{Name: "perm", Inputs: []string{"o0"}, Output: "vperm"},
	}}))

	// blob: an output of the requested size (a string of that many bytes),
	// read back whole by blen, which returns its length.
	must(reg.RegisterTask("blob", func(ctx context.Context, in runtime.Inputs) (any, error) {
		n, err := runtime.Input[int](in, "size")
		if err != nil {
			return nil, err
		}
		logExec(in, "blob")
		return strings.Repeat("x", n), nil
	}))
	must(reg.RegisterTask("blen", func(ctx context.Context, in runtime.Inputs) (any, error) {
		s, err := runtime.Input[string](in, "vblob")
		return len(s), err
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "blob", Inputs: []runtime.Field{{Name: "size", Type: "int", Required: true}}, Tasks: []runtime.Task{
		{Name: "blob", Inputs: []string{"size"}, Output: "vblob", Retry: runtime.RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond}},
		{Name: "blen", Inputs: []string{"vblob"}, Output: "vblen"},
	}}))
	// echo: returns its input, whatever its size.
	must(reg.RegisterTask("echo", func(ctx context.Context, in runtime.Inputs) (any, error) {
		return runtime.Input[string](in, "text")
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "echo", Inputs: []runtime.Field{{Name: "text", Type: "string", Required: true}}, Tasks: []runtime.Task{
		{Name: "echo", Inputs: []string{"text"}, Output: "vecho"},
	}}))
	// blobs: a map whose elements output strings of the sizes listed, and
	// a reduce that adds up their lengths.
	must(reg.RegisterTask("belem", func(ctx context.Context, in runtime.Inputs) (any, error) {
		n, err := runtime.Input[int](in, "sizes")
		return strings.Repeat("y", max(n, 0)), err
	}))
	must(reg.RegisterTask("bsum", func(ctx context.Context, in runtime.Inputs) (any, error) {
		xs, err := runtime.Input[[]string](in, "vbelem")
		total := 0
		for _, x := range xs {
			total += len(x)
		}
		return total, err
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "blobs", Inputs: []runtime.Field{{Name: "sizes", Type: "[]int", Required: true}}, Tasks: []runtime.Task{
		{Name: "belem", Inputs: []string{"sizes"}, Output: "vbelem", Map: "sizes", MapConcurrency: 4},
		{Name: "bsum", Inputs: []string{"vbelem"}, Output: "vbsum"},
	}}))

	// stubborn: ignores its context and returns after the requested
	// number of milliseconds; each attempt leaves a marker.
	must(reg.RegisterTask("stubborn", func(_ context.Context, in runtime.Inputs) (any, error) {
		ms, err := runtime.Input[int](in, "ms")
		if err != nil {
			return nil, err
		}
		marker(fmt.Sprintf("stubborn-%s-%d", in.RunID(), in.Attempt()), strconv.Itoa(pid))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		logExec(in, "stubborn")
		return "late", nil
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "stubborn", Inputs: []runtime.Field{{Name: "ms", Type: "int", Required: true}}, Tasks: []runtime.Task{
		{Name: "stubborn", Inputs: []string{"ms"}, Output: "vstubborn", Timeout: 200 * time.Millisecond, Retry: runtime.RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond}},
	}}))
	// latecomer: the same task under a pipeline timeout and no task
	// timeout.
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "latecomer", Inputs: []runtime.Field{{Name: "ms", Type: "int", Required: true}}, Timeout: 500 * time.Millisecond, Tasks: []runtime.Task{
		{Name: "stubborn", Inputs: []string{"ms"}, Output: "vstubborn"},
	}}))
	return reg
}

// mapConc is the concurrency of the map pipelines of registerMaps.
const mapConc = 16

// registerMaps registers two pipelines that run the task "melem" (a no-op
// returning its element) once per element of a list of ints: "map_input"
// maps over the pipeline input "items", "map_task" over the list the task
// "mmake" makes from the pipeline input "n".
func registerMaps(reg *runtime.Registry) error {
	return errors.Join(
		reg.RegisterTask("melem", func(_ context.Context, in runtime.Inputs) (any, error) {
			return runtime.Input[int](in, "items")
		}),
		reg.RegisterTask("mmake", func(_ context.Context, in runtime.Inputs) (any, error) {
			n, err := runtime.Input[int](in, "n")
			items := make([]int, max(n, 0))
			for i := range items {
				items[i] = i
			}
			return items, err
		}),
		reg.RegisterPipeline(runtime.Pipeline{ID: "map_input", Inputs: []runtime.Field{{Name: "items", Type: "[]int", Required: true}}, Tasks: []runtime.Task{
			{Name: "melem", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: mapConc},
		}}),
		reg.RegisterPipeline(runtime.Pipeline{ID: "map_task", Inputs: []runtime.Field{{Name: "n", Type: "int", Required: true}}, Tasks: []runtime.Task{
			{Name: "mmake", Inputs: []string{"n"}, Output: "items"},
			{Name: "melem", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: mapConc},
		}}),
	)
}

// mapInputs returns the inputs of a run of map pipeline id over n items:
// for map_input the list as raw JSON, as an execute request carries it.
func mapInputs(id string, n int) map[string]any {
	if id == "map_task" {
		return map[string]any{"n": n}
	}
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return map[string]any{"items": runtime.RawJSON(append(b, ']'))}
}

// startServer starts an embedded JetStream server with a temporary store.
func startServer(tb testing.TB) *server.Server {
	tb.Helper()
	return runServer(tb, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true})
}

// waitUntil polls cond until it holds, for up to within, and reports
// whether it did.
func waitUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// runServer starts a nats-server with opts, shut down at the test's end.
func runServer(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// workerProc is a worker running in another OS process.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   string
	done  chan struct{}
}

func (w *workerProc) pid() int { return w.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to die.
func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	<-w.done
}

// startFaultyWorker is startWorker for a worker that SIGKILLs itself the
// nth time it reaches point.
func startFaultyWorker(tb testing.TB, url, dir string, conc int, point fault.Point, n int) *workerProc {
	tb.Helper()
	return startWorkerEnv(tb, url, dir, conc, envFault+"="+string(point)+":"+strconv.Itoa(n))
}

// startWorker re-executes the test binary as a worker process against url,
// running conc executions at once, and waits until it is ready.
func startWorker(tb testing.TB, url, dir string, conc int) *workerProc {
	tb.Helper()
	return startWorkerEnv(tb, url, dir, conc)
}

// startAPIProc starts an API process (apiMain) and returns its base URL.
func startAPIProc(tb testing.TB, url, dir string) (*workerProc, string) {
	tb.Helper()
	p := startWorkerEnv(tb, url, dir, 0, envAPI+"=1", envWorker+"=0")
	addr := waitFile(tb, filepath.Join(dir, "api-addr"), 20*time.Second)
	return p, "http://" + addr
}

func startWorkerEnv(tb testing.TB, url, dir string, conc int, env ...string) *workerProc {
	tb.Helper()
	logf, err := os.CreateTemp(dir, "worker-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=1", envURL+"="+url, envDir+"="+dir, envConc+"="+strconv.Itoa(conc))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	w := &workerProc{cmd: cmd, stdin: stdin, log: logf.Name(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(w.done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			w.kill()
		}
		if tb.Failed() {
			if b, err := os.ReadFile(w.log); err == nil && len(b) > 0 {
				tb.Logf("worker %d log:\n%s", w.pid(), b)
			}
		}
	})
	waitFile(tb, filepath.Join(dir, fmt.Sprintf("ready-%d", cmd.Process.Pid)), 20*time.Second)
	return w
}

// waitFile waits for a file to exist and returns its content.
func waitFile(tb testing.TB, path string, d time.Duration) string {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not appear within %s", filepath.Base(path), d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connect connects a backend with testOptions, closed when the test ends.
func connect(tb testing.TB, url string) *Backend {
	tb.Helper()
	b, err := Connect(context.Background(), url, testOptions())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// openAPI connects an API-only engine (no local workers).
func openAPI(tb testing.TB, url, dir string) (*Backend, *runtime.Engine) {
	tb.Helper()
	b, err := Connect(context.Background(), url, testOptions())
	if err != nil {
		tb.Fatal(err)
	}
	e := runtime.New(testRegistry(dir), runtime.WithBackend(b), runtime.WithWorkers(0))
	var once bool
	tb.Cleanup(func() {
		if !once {
			once = true
			_ = e.Shutdown(context.Background())
			_ = b.Close()
		}
	})
	return b, e
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// execLog returns the lines of the execution log for run.
func execLog(tb testing.TB, dir, runID string) [][]string {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "exec.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 4 && fields[0] == runID {
			out = append(out, fields[1:])
		}
	}
	return out
}

// waitOutsideRuns polls GET /runs/{id} of the outside tests' API process
// until every run of ids ("" skipped) has succeeded with its output (q2 = i+3), failing
// the test on a run that failed, was cancelled or is unknown, or when
// within has passed. Answers that are not 200 (the API riding out an
// outage) are polled again.
func waitOutsideRuns(ctx context.Context, t *testing.T, hc *http.Client, base string, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, id := range ids {
		for id != "" { // "": a start given up on
			resp, err := hc.Get(base + "/runs/" + id)
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Status  string         `json:"status"`
				Error   string         `json:"error"`
				Outputs map[string]int `json:"outputs"`
				Tasks   map[string]struct {
					Status   string `json:"status"`
					Attempts int    `json:"attempts"`
				} `json:"tasks"`
			}
			code := resp.StatusCode
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if code == http.StatusOK && err == nil && r.Status == "succeeded" {
				if r.Outputs["q2"] != i+3 {
					t.Fatalf("run %d output %v", i, r.Outputs)
				}
				break
			}
			if code == http.StatusNotFound || r.Status == "failed" || r.Status == "cancelled" || time.Now().After(deadline) || ctx.Err() != nil {
				t.Fatalf("run %d (%s): %d %s (%q), tasks %+v", i, id, code, r.Status, r.Error, r.Tasks)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
