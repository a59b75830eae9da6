// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// countExec returns how many times task ran for the run, from the
// execution log.
func countExec(t *testing.T, dir, runID, task string) int {
	t.Helper()
	n := 0
	for _, l := range execLog(t, dir, runID) {
		if l[0] == task {
			n++
		}
	}
	return n
}

// storedSize returns the size of the run's record as stored.
func storedSize(t *testing.T, b *Backend, runID string) int {
	t.Helper()
	data, _, err := b.store.read(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return len(data)
}

// Values over the server's max payload (1 MB by default) work as in
// memory: a 2 MB task output read by the next task and returned, a 2 MB
// pipeline input, and map elements whose outputs are too large for a
// record, while the run's record stays small.
func TestLargeValues(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 4)
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 120*time.Second)
	const size = 2 << 20

	r, err := api.Run(ctx, "blob", map[string]any{"size": size}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != runtime.RunSucceeded {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	if n, err := runtime.Output[int](r, "vblen"); err != nil || n != size {
		t.Fatalf("blen read %d bytes, %v", n, err)
	}
	if out, err := runtime.Output[string](r, "vblob"); err != nil || len(out) != size {
		t.Fatalf("output of %d bytes, %v", len(out), err)
	}
	if n := countExec(t, dir, r.ID, "blob"); n != 1 || r.Tasks["blob"].Attempts != 1 {
		t.Fatalf("blob ran %d times, %d attempts", n, r.Tasks["blob"].Attempts)
	}
	if n := storedSize(t, b, r.ID); n > inlineBudget {
		t.Fatalf("record of %d bytes", n)
	}

	text := strings.Repeat("é", size/2)
	r, err = api.Run(ctx, "echo", map[string]any{"text": text}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runtime.Output[string](r, "vecho"); r.Status != runtime.RunSucceeded || err != nil || out != text {
		t.Fatalf("run %s %q: output of %d bytes, %v", r.Status, r.Error, len(out), err)
	}

	sizes := []int{3 * inlineMax, 10, 2 << 20, 0, inlineMax + 1}
	r, err = api.Run(ctx, "blobs", map[string]any{"sizes": sizes}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, n := range sizes {
		want += n
	}
	if total, err := runtime.Output[int](r, "vbsum"); r.Status != runtime.RunSucceeded || err != nil || total != want {
		t.Fatalf("run %s %q: total %d, want %d (%v)", r.Status, r.Error, total, want, err)
	}
	outs, err := runtime.Output[[]string](r, "vbelem")
	if err != nil || len(outs) != len(sizes) || len(outs[2]) != sizes[2] {
		t.Fatalf("element outputs: %d, %v", len(outs), err)
	}
	if n := storedSize(t, b, r.ID); n > inlineBudget {
		t.Fatalf("record of %d bytes", n)
	}
}

// A value over the limit fails its task once, for good, with the real
// reason in the run's error, though its retry policy allows three
// attempts and the broker ten deliveries; a run whose input is over the
// limit is refused.
func TestValueOverTheLimitFailsOnce(t *testing.T) {
	t.Setenv(envMaxDeliver, "10")
	// Encoding 64 MiB under the race detector on a loaded machine can
	// outlast a short AckWait's heartbeats; this test is about the store's
	// error, not about a worker presumed dead.
	t.Setenv(envAckWait, "30s")
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 2)
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 120*time.Second)

	r, err := api.Run(ctx, "blob", map[string]any{"size": DefaultMaxValueSize}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`task "blob" failed: its output cannot be stored: value "vblob" is %d bytes of JSON, over the limit of %d bytes (64.0 MiB) of a value on JetStream (natsjs Options.MaxValueSize)`,
		DefaultMaxValueSize+2, DefaultMaxValueSize)
	if r.Status != runtime.RunFailed || !strings.HasPrefix(r.Error, want) {
		t.Fatalf("run %s %q, want %q", r.Status, r.Error, want)
	}
	if n := countExec(t, dir, r.ID, "blob"); n != 1 || r.Tasks["blob"].Attempts != 1 {
		t.Fatalf("blob ran %d times, %d attempts", n, r.Tasks["blob"].Attempts)
	}
	for { // the worker dead-letters the message just after failing the run
		dls, err := b.DeadLetters(ctx)
		if err == nil && len(dls) == 1 {
			if dl := dls[0]; dl.RunID != r.ID || dl.Deliveries != 1 || dl.Exhausted || !strings.Contains(dl.Reason, "over the limit") {
				t.Fatalf("dead letter %+v", dl)
			}
			break
		}
		if err != nil || len(dls) > 1 || ctx.Err() != nil {
			t.Fatalf("dead letters %+v %v", dls, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	opts := testOptions()
	opts.MaxValueSize = 1 << 20
	small, err := Connect(ctx, s.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	e := runtime.New(testRegistry(dir), runtime.WithBackend(small), runtime.WithWorkers(0))
	defer e.Shutdown(context.Background())
	if _, err := e.Start(ctx, "echo", map[string]any{"text": strings.Repeat("x", 2<<20)}, runtime.StartOptions{}); !errors.Is(err, runtime.ErrValueTooLarge) ||
		!strings.Contains(err.Error(), `value "text" is 2097154 bytes of JSON, over the limit of 1048576 bytes (1.0 MiB)`) {
		t.Fatalf("start with a 2 MiB input: %v", err)
	}
}

// A map runs `concurrency` elements at once on JetStream too, whether its
// list is a pipeline input or a task's output; its elements' outputs stay
// out of the run's record.
func TestMapConcurrencyOnJetStream(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 120*time.Second)
	const conc, n = 12, 300
	var g gauge
	reg := gaugedMaps(t, ctx, conc, &g)
	wb, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	w, err := runtime.NewWorker(reg, runtime.WithBackend(wb), runtime.WithWorkers(conc+4))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(wctx) })
	defer func() { stop(); wg.Wait() }()

	b, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	api := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(0))
	defer api.Shutdown(context.Background())
	items := make([]string, n)
	for i := range items {
		items[i] = strconv.Itoa(i)
	}
	for _, tc := range []struct {
		pipeline string
		inputs   map[string]any
	}{
		{"from_input", map[string]any{"items": runtime.RawJSON([]byte("[" + strings.Join(items, ",") + "]"))}},
		{"from_task", map[string]any{"n": n}},
	} {
		g.reset()
		r, err := api.Run(ctx, tc.pipeline, tc.inputs, runtime.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runtime.RunSucceeded {
			t.Fatalf("%s: status %s: %s", tc.pipeline, r.Status, r.Error)
		}
		if p := g.peak.Load(); p != conc {
			t.Fatalf("%s: peak %d elements at once, want %d", tc.pipeline, p, conc)
		}
		outs, err := runtime.Output[[]int](r, "outs")
		if err != nil || len(outs) != n || outs[n-1] != n-1 {
			t.Fatalf("%s: outs %v, %v", tc.pipeline, outs, err)
		}
		rec, err := b.store.Record(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rec.Values["outs"].Ref(); !ok {
			t.Fatalf("%s: the map's output is in the record", tc.pipeline)
		}
	}
}

// gauge counts the executions running at once and the most seen, and
// holds each back until conc of them run together.
type gauge struct {
	cur, peak atomic.Int32
	mu        sync.Mutex
	full      chan struct{}
}

// reset starts a new count.
func (g *gauge) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur.Store(0)
	g.peak.Store(0)
	g.full = make(chan struct{})
}

// enter counts an execution in and returns the channel closed once conc
// run at once.
func (g *gauge) enter(conc int) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.cur.Add(1)
	if c > g.peak.Load() {
		g.peak.Store(c)
	}
	if c == int32(conc) {
		close(g.full)
	}
	return g.full
}

// gaugedMaps registers "from_input" (a map over the pipeline input
// "items") and "from_task" (a map over the list "make" makes from the
// input "n"), running "each" conc elements at once; each element waits
// until conc elements run together, or ctx ends.
func gaugedMaps(t *testing.T, ctx context.Context, conc int, g *gauge) *runtime.Registry {
	reg := runtime.NewRegistry()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.RegisterTask("each", func(_ context.Context, in runtime.Inputs) (any, error) {
		full := g.enter(conc)
		defer g.cur.Add(-1)
		select {
		case <-full:
		case <-ctx.Done():
			return nil, runtime.Permanent(fmt.Errorf("only %d of %d elements ever ran at once", g.peak.Load(), conc))
		}
		return runtime.Input[int](in, "items")
	}))
	must(reg.RegisterTask("make", func(_ context.Context, in runtime.Inputs) (any, error) {
		n, err := runtime.Input[int](in, "n")
		items := make([]int, max(n, 0))
		for i := range items {
			items[i] = i
		}
		return items, err
	}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "from_input", Inputs: []runtime.Field{{Name: "items", Type: "[]int", Required: true}}, Tasks: []runtime.Task{
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
	}}))
	must(reg.RegisterPipeline(runtime.Pipeline{ID: "from_task", Inputs: []runtime.Field{{Name: "n", Type: "int", Required: true}}, Tasks: []runtime.Task{
		{Name: "make", Inputs: []string{"n"}, Output: "items"},
		{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: conc},
	}}))
	return reg
}

// A record written in format 1 (every value inline, element outputs in
// "results", done elements as booleans), halfway through a map, is carried
// to its end: the elements it had are kept as they were, the others run.
func TestFormat1RecordIsCarriedForward(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 2)
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	const n = 10
	done := make([]bool, n)
	results := make([]driver.Value, n)
	for k := range 5 {
		done[k], results[k] = true, driver.ValueOf(100+k)
	}
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	now := time.Now().UTC()
	rec := driver.RunRecord{
		ID: "format1run", PipelineID: "map_input", Status: driver.RunRunning, CreatedAt: now, StartedAt: now,
		Outputs: []string{"outs"}, Values: map[string]driver.Value{"items": driver.ValueOf(items)},
		Tasks: []driver.TaskRecord{{Name: "melem", Status: driver.TaskRunning, Attempts: 1, StartedAt: now, Queued: true,
			Items: n, Next: 7, Done: 5, ElemDone: done, Results: results}},
	}
	data, err := json.Marshal(rec) // the format-1 encoding: RunRecord as is
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"format"`) || !strings.Contains(string(data), `"elem_done":[true,`) {
		t.Fatalf("not a format-1 record: %s", data)
	}
	entry, _ := json.Marshal(indexEntry{ID: rec.ID, PipelineID: rec.PipelineID})
	if _, err := b.js.Publish(ctx, b.names.indexSubject, entry); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.kv.Put(ctx, activeKey(rec.ID), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.kv.Create(ctx, runKey(rec.ID), data); err != nil {
		t.Fatal(err)
	}
	if err := api.Resume(ctx); err != nil { // enqueues elements 5 and 6
		t.Fatal(err)
	}
	r, err := api.Wait(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := runtime.Output[[]int](r, "outs")
	if r.Status != runtime.RunSucceeded || err != nil || fmt.Sprint(outs) != "[100 101 102 103 104 5 6 7 8 9]" {
		t.Fatalf("run %s %q: outs %v, %v", r.Status, r.Error, outs, err)
	}
}

// A task timeout holds on a worker process when the task ignores its
// context: each attempt is over at 200ms and the task fails after its
// two attempts, and the results the function returns later change
// nothing.
func TestTimeoutHoldsOnWorker(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	w := startWorker(t, s.ClientURL(), dir, 2)
	_, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)
	r, err := api.Run(ctx, "stubborn", map[string]any{"ms": 1500}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `task "stubborn" failed after 2 attempts: task timeout exceeded: took longer than 200ms: context deadline exceeded`
	if r.Status != runtime.RunFailed || r.Error != want || r.Tasks["stubborn"].Attempts != 2 {
		t.Fatalf("run %s %q %+v", r.Status, r.Error, r.Tasks["stubborn"])
	}
	for a := 1; a <= 2; a++ {
		waitFile(t, filepath.Join(dir, fmt.Sprintf("stubborn-%s-%d", r.ID, a)), time.Second)
	}
	// Both calls return 1.5s after they started: their results are
	// logged as discarded, and the run stays as it was.
	for {
		logs, _ := os.ReadFile(w.log)
		if strings.Count(string(logs), "its result is discarded") == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("worker log: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("stubborn-%s-3", r.ID))); err == nil {
		t.Fatal("a third attempt ran")
	}
	got, err := api.Get(ctx, r.ID)
	if err != nil || got.Status != runtime.RunFailed || got.Error != want || got.Tasks["stubborn"] != r.Tasks["stubborn"] {
		t.Fatalf("after the late results: %+v %v", got, err)
	}
}

// A task that completes after its pipeline's deadline, on a worker, with
// no API process running (so no engine's timer), fails the run: the
// worker ends the attempt at the deadline whatever the task does.
func TestLateCompletionOnWorkerFailsRun(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 2)
	ctx := testCtx(t, 60*time.Second)
	b, api := openAPI(t, s.ClientURL(), dir)
	run, err := api.Start(ctx, "latecomer", map[string]any{"ms": 1500}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Shutdown(ctx); err != nil { // no API process from here on
		t.Fatal(err)
	}
	_ = b.Close()
	r := pollRun(t, ctx, s.ClientURL(), run.ID)
	if r.Status != runtime.RunFailed || r.Error != `pipeline "latecomer" timed out after 500ms` || !errors.Is(r.Err(), runtime.ErrPipelineTimeout) {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	waitFile(t, filepath.Join(dir, fmt.Sprintf("stubborn-%s-1", run.ID)), time.Second)
}

// The same when the task returns on its own, past the deadline by the
// worker's clock (a test clock that the task moves): completion itself
// checks the deadline.
func TestCompletionPastDeadlineOnWorkerFailsRun(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	clock := testutil.NewClockAt(time.Now())
	reg := runtime.NewRegistry()
	if err := errors.Join(
		reg.RegisterTask("slow", func(context.Context, runtime.Inputs) (any, error) {
			clock.Advance(2 * time.Minute) // the task "took" two minutes
			return "late", nil
		}),
		reg.RegisterPipeline(runtime.Pipeline{ID: "slow", Timeout: time.Minute, Tasks: []runtime.Task{{Name: "slow", Output: "o"}}}),
	); err != nil {
		t.Fatal(err)
	}
	b, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	api := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(0))
	run, err := api.Start(ctx, "slow", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Shutdown(ctx); err != nil { // no API process from here on
		t.Fatal(err)
	}
	_ = b.Close()

	wb, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	w, err := runtime.NewWorker(reg, runtime.WithBackend(wb), runtime.WithWorkers(1), runtime.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(wctx) })
	defer func() { stop(); wg.Wait() }()
	r := pollRun(t, ctx, s.ClientURL(), run.ID)
	if r.Status != runtime.RunFailed || r.Error != `pipeline "slow" timed out after 1m0s` || r.Outputs != nil {
		t.Fatalf("run %s %q %v", r.Status, r.Error, r.Outputs)
	}
}

// pollRun reads the run from a connection of its own until it has ended.
func pollRun(t *testing.T, ctx context.Context, url, id string) *runtime.Run {
	t.Helper()
	b, err := Connect(ctx, url, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for {
		r, err := b.Store().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Terminal() {
			return r
		}
		if ctx.Err() != nil {
			t.Fatalf("run %s still %s", id, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On JetStream too, a failed element's error names its own attempts (the
// deliveries of its message), and each element reports its end.
func TestMapElementErrorOnJetStream(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	reg := runtime.NewRegistry()
	if err := errors.Join(
		reg.RegisterTask("each", func(_ context.Context, in runtime.Inputs) (any, error) {
			x, err := runtime.Input[int](in, "items")
			switch {
			case err != nil:
				return nil, err
			case x == 0 && in.Attempt() < 3:
				return nil, fmt.Errorf("item 0 flaky at attempt %d", in.Attempt())
			case x == 2:
				return nil, runtime.Permanent(fmt.Errorf("item 2 rejected at attempt %d", in.Attempt()))
			}
			return x, nil
		}),
		reg.RegisterPipeline(runtime.Pipeline{ID: "p", Inputs: []runtime.Field{{Name: "items", Type: "[]int", Required: true}}, Tasks: []runtime.Task{
			{Name: "each", Inputs: []string{"items"}, Output: "outs", Map: "items", MapConcurrency: 1,
				Retry: runtime.RetryPolicy{Attempts: 3, Backoff: time.Millisecond}},
		}}),
	); err != nil {
		t.Fatal(err)
	}
	wb, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	w, err := runtime.NewWorker(reg, runtime.WithBackend(wb), runtime.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(wctx) })
	defer func() { stop(); wg.Wait() }()
	b, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	api := runtime.New(reg, runtime.WithBackend(b), runtime.WithWorkers(0))
	defer api.Shutdown(context.Background())

	sub, err := api.Subscribe(ctx, runtime.EventFilter{PipelineID: "p", Types: []runtime.EventType{runtime.EventTaskElementSucceeded, runtime.EventTaskElementFailed, runtime.EventRunFailed}}, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r, err := api.Run(ctx, "p", map[string]any{"items": []int{0, 1, 2, 3}}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `task "each" element 2 failed: item 2 rejected at attempt 1`; r.Status != runtime.RunFailed || r.Error != want {
		t.Fatalf("run %s %q, want %q", r.Status, r.Error, want)
	}
	if a := r.Tasks["each"].Attempts; a != 3 {
		t.Fatalf("task attempts %d", a)
	}
	var got []string
	for ev := range sub.Events() {
		if ev.Type == runtime.EventRunFailed {
			break
		}
		got = append(got, fmt.Sprintf("%s %d %d", ev.Type, ev.Index, ev.Attempt))
	}
	if want := "[task_element_succeeded 0 3 task_element_succeeded 1 1 task_element_failed 2 1]"; fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}
