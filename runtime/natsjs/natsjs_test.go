// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

var pidRe = regexp.MustCompile(`@(\d+)`)

// A pipeline completes across two worker processes, and both execute tasks.
func TestPipelineAcrossTwoWorkers(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	w1 := startWorker(t, s.ClientURL(), dir, 1)
	w2 := startWorker(t, s.ClientURL(), dir, 1)
	_, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	const n = 6
	ids := make([]string, n)
	for i := range n {
		r, err := api.Start(ctx, "chain", map[string]any{"in": fmt.Sprintf("run%d", i)}, runtime.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	pids := map[int]int{}
	for i, id := range ids {
		r, err := api.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := runtime.Output[string](r, "vc")
		if err != nil || !strings.HasPrefix(out, fmt.Sprintf("run%d|a@", i)) {
			t.Fatalf("run %d: %q %v (%s %s)", i, out, err, r.Status, r.Error)
		}
		for _, m := range pidRe.FindAllStringSubmatch(out, -1) {
			p, _ := strconv.Atoi(m[1])
			pids[p]++
		}
	}
	if pids[w1.pid()] == 0 || pids[w2.pid()] == 0 || len(pids) != 2 {
		t.Fatalf("tasks per pid %v; workers %d and %d", pids, w1.pid(), w2.pid())
	}
	t.Logf("tasks per worker pid: %v", pids)

	// The API lists them newest first.
	page, err := api.List(ctx, runtime.ListOptions{PipelineID: "chain", Limit: n})
	if err != nil || len(page.Runs) != n || page.Runs[0].ID != ids[n-1] || page.Runs[n-1].ID != ids[0] {
		t.Fatalf("list %+v %v", page, err)
	}
}

// A worker killed with SIGKILL in the middle of a task: the task is
// redelivered to the other worker after AckWait and the run completes, with
// each task's output recorded once.
func TestKilledWorkerTaskIsRedelivered(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	workers := map[int]*workerProc{}
	for range 2 {
		w := startWorker(t, s.ClientURL(), dir, 1)
		workers[w.pid()] = w
	}
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	run, err := api.Start(ctx, "block", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "started-"+run.ID+"-1"), 20*time.Second))
	victim := workers[pid]
	if victim == nil {
		t.Fatalf("task started in unknown process %d", pid)
	}
	killed := time.Now()
	victim.kill()

	r, err := api.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run finished %s after the kill", time.Since(killed).Round(time.Millisecond))
	if r.Status != runtime.RunSucceeded {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	out, err := runtime.Output[string](r, "vafter")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range pidRe.FindAllStringSubmatch(out, -1) {
		if m[1] == strconv.Itoa(pid) {
			t.Fatalf("output %q names the killed worker %d", out, pid)
		}
	}
	if r.Tasks["block"].Attempts != 2 || r.Tasks["after"].Attempts != 1 {
		t.Fatalf("attempts %+v", r.Tasks)
	}
	// The task's ctx told each attempt its run, pipeline, task and attempt
	// number, in the process that ran it: the redelivered attempt is 2.
	for attempt := 1; attempt <= 2; attempt++ {
		got := strings.Fields(waitFile(t, filepath.Join(dir, fmt.Sprintf("info-%s-%d", run.ID, attempt)), 20*time.Second))
		want := []string{"true", run.ID, "block", "block", strconv.Itoa(attempt), "-1"}
		if len(got) != 7 || !slices.Equal(got[:6], want) {
			t.Fatalf("attempt %d saw TaskInfo %q, want %q", attempt, got, want)
		}
		if killedRanIt := got[6] == strconv.Itoa(pid); killedRanIt != (attempt == 1) {
			t.Errorf("attempt %d ran in process %s; the killed worker is %d", attempt, got[6], pid)
		}
	}
	// Each task produced its output once: one completion each in the log.
	done := map[string]int{}
	for _, l := range execLog(t, dir, run.ID) {
		done[l[0]]++
	}
	if done["block"] != 1 || done["after"] != 1 || len(done) != 2 {
		t.Fatalf("completions %v", done)
	}
	// Nothing is left in the queue or dead-lettered.
	dl, err := b.DeadLetters(ctx)
	if err != nil || len(dl) != 0 {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
}

// Closing the API process while runs are pending and running loses none: a
// new API process resumes them and they complete.
func TestAPIRestartLosesNoRun(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	b1, api1 := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	r1, err := api1.Start(ctx, "gate", nil, runtime.StartOptions{IdempotencyKey: "first"})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, s.ClientURL(), dir, 1)
	waitFile(t, filepath.Join(dir, "gate-started-"+r1.ID), 20*time.Second)
	r2, err := api1.Start(ctx, "gate", nil, runtime.StartOptions{}) // waits behind r1
	if err != nil {
		t.Fatal(err)
	}
	// r1's start is recorded once its task has run for RunningAfter.
	for got, _ := api1.Get(ctx, r1.ID); got.Status != runtime.RunRunning; got, _ = api1.Get(ctx, r1.ID) {
		if got.Status.Terminal() || ctx.Err() != nil {
			t.Fatalf("r1 %s", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The API process goes away.
	if err := api1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gate-open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A new one starts over the same JetStream state.
	_, api2 := openAPI(t, s.ClientURL(), dir)
	if err := api2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{r1.ID, r2.ID} {
		r, err := api2.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runtime.RunSucceeded {
			t.Fatalf("run %s: %s %q", id, r.Status, r.Error)
		}
	}
	// The idempotency key still leads to r1.
	again, err := api2.Start(ctx, "gate", nil, runtime.StartOptions{IdempotencyKey: "first"})
	if err != nil || again.ID != r1.ID {
		t.Fatalf("idempotent start: %v %v", again, err)
	}
	page, err := api2.List(ctx, runtime.ListOptions{PipelineID: "gate", Status: runtime.RunSucceeded})
	if err != nil || len(page.Runs) != 2 || page.Runs[0].ID != r2.ID {
		t.Fatalf("list %+v %v", page, err)
	}
}

// Cancelling a run on the API reaches the task running on a remote worker.
func TestCancelReachesRemoteWorker(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 2)
	_, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	run, err := api.Start(ctx, "wait", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "wait-started-"+run.ID), 20*time.Second)
	if _, err := api.Cancel(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	got := waitFile(t, filepath.Join(dir, "wait-cancelled-"+run.ID), 10*time.Second)
	if !strings.Contains(got, "cancelled") {
		t.Fatalf("task saw %q", got)
	}
	r, err := api.Wait(ctx, run.ID)
	if err != nil || r.Status != runtime.RunCancelled {
		t.Fatalf("run %v %v", r, err)
	}
}

// An execution that keeps failing with a retryable error is dead-lettered
// after MaxDeliver deliveries and its run fails; a permanent error is
// terminated and dead-lettered at once.
func TestDeadLetterAfterMaxDeliver(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	startWorker(t, s.ClientURL(), dir, 2)
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)

	run, err := api.Run(ctx, "fail", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != runtime.RunFailed || !strings.Contains(run.Error, "always fails") || !strings.Contains(run.Error, "max deliver") {
		t.Fatalf("run %s %q", run.Status, run.Error)
	}
	perm, err := api.Run(ctx, "perm", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if perm.Status != runtime.RunFailed || perm.Tasks["perm"].Attempts != 1 {
		t.Fatalf("perm run %s %q %+v", perm.Status, perm.Error, perm.Tasks)
	}
	// The worker records the dead letter and terminates the message just
	// after it stores the run's failure.
	var dls []driver.DeadLetter
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if dls, err = b.DeadLetters(ctx); err != nil {
			t.Fatal(err)
		}
		if len(dls) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	byRun := map[string]driver.DeadLetter{}
	for _, dl := range dls {
		byRun[dl.RunID] = dl
	}
	dl := byRun[run.ID]
	if len(dls) != 2 || dl.MessageID != run.ID+"/fail/-1" || dl.Deliveries != 3 || !dl.Exhausted || dl.Task != "fail" || dl.PipelineID != "fail" || dl.Time.IsZero() {
		t.Fatalf("dead letters %+v", dls)
	}
	if p := byRun[perm.ID]; p.Exhausted || p.Deliveries != 1 || !strings.HasPrefix(p.Reason, "(error id ") || !strings.HasSuffix(p.Reason, ") bad input") {
		t.Fatalf("permanent dead letter %+v", p)
	}
	// The work queue holds nothing any more.
	stream, err := b.js.Stream(ctx, b.names.tasksStream)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		si, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if si.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks stream %+v", si.State)
		}
	}
}

// A task whose worker dies at every delivery is dead-lettered once
// MaxDeliver deliveries are used up (the server's max-deliveries advisory),
// and its run fails instead of waiting forever.
func TestWorkerDyingAtEveryDeliveryIsDeadLettered(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	b, api := openAPI(t, s.ClientURL(), dir)
	ctx := testCtx(t, 60*time.Second)
	run, err := api.Start(ctx, "hang", nil, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= testOptions().MaxDeliver; attempt++ {
		w := startWorker(t, s.ClientURL(), dir, 1)
		waitFile(t, filepath.Join(dir, fmt.Sprintf("hang-%s-%d", run.ID, attempt)), 20*time.Second)
		w.kill()
	}
	// The server notices the exhausted message when a worker asks for work.
	startWorker(t, s.ClientURL(), dir, 1)
	r, err := api.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != runtime.RunFailed || !strings.Contains(r.Error, "without being settled") {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	dls, err := b.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || dls[0].MessageID != run.ID+"/hang/-1" || dls[0].Deliveries != 3 || !dls[0].Exhausted {
		t.Fatalf("dead letters %+v %v", dls, err)
	}
}

// Concurrent read-modify-write updates from two connections lose nothing:
// Update retries on revision conflicts (what fan-in relies on).
func TestStoreUpdateCompareAndSwap(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	var stores []driver.Store
	for range 2 {
		b, err := Connect(ctx, s.ClientURL(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		stores = append(stores, b.Store())
	}
	rec := &driver.RunRecord{ID: "R1", PipelineID: "p", Status: runtime.RunRunning, Values: map[string]runtime.Value{"n": runtime.ValueOf(0)}}
	if _, created, err := stores[0].Create(ctx, rec); err != nil || !created {
		t.Fatal(created, err)
	}
	const each = 15
	var wg sync.WaitGroup
	for g := range 6 {
		st := stores[g%2]
		wg.Go(func() {
			for range each {
				err := st.Update(ctx, "R1", func(r *driver.RunRecord) error {
					n, err := runtime.Decode[int](r.Values["n"])
					if err != nil {
						return err
					}
					r.Values["n"] = runtime.ValueOf(n + 1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := stores[1].(recordReader).Record(ctx, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := runtime.Decode[int](got.Values["n"]); n != 6*each {
		t.Fatalf("n = %d, want %d", n, 6*each)
	}
	if err := stores[0].Update(ctx, "nope", func(*driver.RunRecord) error { return nil }); !errors.Is(err, runtime.ErrRunNotFound) {
		t.Fatalf("missing run: %v", err)
	}
	if err := stores[0].Update(ctx, "R1", func(*driver.RunRecord) error { return driver.ErrNoChange }); err != nil {
		t.Fatal(err)
	}
}

// List pages newest first with filters and cursors; Create honours
// idempotency keys; Unfinished returns exactly the unfinished runs.
func TestStoreListIdempotencyUnfinished(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 60*time.Second)
	b, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := b.Store()
	var ids []string
	for i := range 9 {
		p := "p"
		if i%3 == 2 {
			p = "q"
		}
		id := fmt.Sprintf("run-%02d.x", i) // needs escaping in keys
		rec := &driver.RunRecord{ID: id, PipelineID: p, Status: runtime.RunPending, Values: map[string]runtime.Value{}}
		if _, _, err := st.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range []string{ids[0], ids[3], ids[4]} {
		if err := st.Update(ctx, id, func(r *driver.RunRecord) error { r.Status = runtime.RunSucceeded; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(opts runtime.ListOptions) []string {
		var got []string
		for pages := 0; ; pages++ {
			page, err := st.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Runs) > opts.Limit {
				t.Fatalf("page of %d", len(page.Runs))
			}
			for _, r := range page.Runs {
				got = append(got, r.ID)
			}
			if page.NextCursor == "" {
				return got
			}
			opts.Cursor = page.NextCursor
		}
	}
	if got := walk(runtime.ListOptions{Limit: 2}); strings.Join(got, ",") != strings.Join(reverse(ids), ",") {
		t.Fatalf("all: %v", got)
	}
	if got := walk(runtime.ListOptions{Limit: 2, PipelineID: "q"}); strings.Join(got, ",") != "run-08.x,run-05.x,run-02.x" {
		t.Fatalf("q: %v", got)
	}
	if got := walk(runtime.ListOptions{Limit: 1, PipelineID: "p", Status: runtime.RunSucceeded}); strings.Join(got, ",") != "run-04.x,run-03.x,run-00.x" {
		t.Fatalf("p succeeded: %v", got)
	}
	if _, err := st.List(ctx, runtime.ListOptions{Cursor: "bogus"}); !errors.Is(err, runtime.ErrInvalidCursor) {
		t.Fatalf("bad cursor: %v", err)
	}

	un, err := st.Unfinished(ctx)
	if err != nil || len(un) != 6 {
		t.Fatalf("unfinished %v %v", un, err)
	}
	for _, id := range un {
		if id == ids[0] || id == ids[3] || id == ids[4] {
			t.Fatalf("finished run %s in %v", id, un)
		}
	}

	// Idempotency: concurrent creates with one key make one run.
	var wg sync.WaitGroup
	results := make([]string, 4)
	created := make([]bool, 4)
	for i := range 4 {
		wg.Go(func() {
			rec := &driver.RunRecord{ID: fmt.Sprintf("idem-%d", i), PipelineID: "p", IdempotencyKey: "key/1 é", Status: runtime.RunPending, Values: map[string]runtime.Value{}}
			r, c, err := st.Create(ctx, rec)
			if err != nil {
				t.Error(err)
				return
			}
			results[i], created[i] = r.ID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range 4 {
		if created[i] {
			n++
		}
		if results[i] != results[0] {
			t.Fatalf("idempotent creates gave %v", results)
		}
	}
	if n != 1 {
		t.Fatalf("%d creates succeeded", n)
	}
	// The same key on another pipeline is another run.
	r, c, err := st.Create(ctx, &driver.RunRecord{ID: "idem-q", PipelineID: "q", IdempotencyKey: "key/1 é", Status: runtime.RunPending})
	if err != nil || !c || r.ID != "idem-q" {
		t.Fatalf("%v %v %v", r, c, err)
	}
	if _, err := st.Get(ctx, "missing"); !errors.Is(err, runtime.ErrRunNotFound) {
		t.Fatalf("get missing: %v", err)
	}
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}

// A run subscription on one process sees the snapshot first, then the
// events another process publishes, and ends after the terminal one.
func TestBusSnapshotFirstAcrossConnections(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	pub, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	snap := runtime.Event{Type: runtime.EventSnapshot, RunID: "R.1", PipelineID: "p q", Index: -1}
	rs, err := sub.Bus().Subscribe(ctx, runtime.EventFilter{RunID: "R.1"}, driver.SubscribeOptions{Initial: func() ([]runtime.Event, error) {
		// An event published while the snapshot is taken is not lost.
		_ = pub.Bus().Publish(ctx, runtime.Event{Type: runtime.EventTaskStarted, RunID: "R.1", PipelineID: "p q", Task: "t", Attempt: 1})
		_ = pub.Conn().Flush()
		return []runtime.Event{snap}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := sub.Bus().Subscribe(ctx, runtime.EventFilter{Types: []runtime.EventType{runtime.EventRunSucceeded, runtime.EventRunCancelled}}, driver.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	pl, err := sub.Bus().Subscribe(ctx, runtime.EventFilter{PipelineID: "p q"}, driver.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	for _, ev := range []runtime.Event{
		{Type: runtime.EventTaskStarted, RunID: "other", PipelineID: "p q"},
		{Type: runtime.EventTaskSucceeded, RunID: "R.1", PipelineID: "p q", Task: "t"},
		{Type: runtime.EventRunSucceeded, RunID: "R.1", PipelineID: "p q"},
	} {
		if err := pub.Bus().Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for ev := range rs.Events() {
		got = append(got, string(ev.Type))
	}
	if want := "snapshot,task_started,task_succeeded,run_succeeded"; strings.Join(got, ",") != want {
		t.Fatalf("run events %v, want %s", got, want)
	}
	if ev := <-all.Events(); ev.Type != runtime.EventRunSucceeded || ev.RunID != "R.1" {
		t.Fatalf("ended events got %+v", ev)
	}
	for _, want := range []string{"other", "R.1", "R.1"} {
		if ev := <-pl.Events(); ev.RunID != want {
			t.Fatalf("pipeline events got %+v, want run %s", ev, want)
		}
	}
	// Close ends subscriptions; later ones end at once.
	_ = sub.Bus().(*Bus).Close()
	if _, ok := <-pl.Events(); ok {
		t.Fatal("subscription open after Close")
	}
	late, err := sub.Bus().Subscribe(ctx, runtime.EventFilter{}, driver.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-late.Events(); ok {
		t.Fatal("subscription open on a closed bus")
	}
}

// A worker process without a pipeline, next to one with it, hands the
// pipeline's tasks back: every run completes, on the right worker.
func TestWorkerWithoutThePipelineNextToOneWithIt(t *testing.T) {
	// Each hand-back is a delivery: MaxDeliver bounds how often workers
	// without the pipeline may get its task in a row (here about one in
	// 2^30).
	t.Setenv(envMaxDeliver, "30")
	s := startServer(t)
	dir := t.TempDir()
	_, api := openAPI(t, s.ClientURL(), dir)
	startWorkerEnv(t, s.ClientURL(), dir, 4, envOnlyPass3+"=1")
	startWorker(t, s.ClientURL(), dir, 4)
	ctx := testCtx(t, 60*time.Second)
	for range 10 {
		r, err := api.Run(ctx, "noop3", map[string]any{"in": 1}, runtime.StartOptions{})
		if err != nil || r.Status != runtime.RunSucceeded {
			t.Fatalf("run %+v: %v", r, err)
		}
	}
}

// With only workers that lack the pipeline, its run fails within the
// bound, naming the worker and what it lacks, and is dead-lettered.
func TestOnlyWorkersWithoutThePipeline(t *testing.T) {
	t.Setenv(envMaxDeliver, "10")
	s := startServer(t)
	dir := t.TempDir()
	b, api := openAPI(t, s.ClientURL(), dir)
	w := startWorkerEnv(t, s.ClientURL(), dir, 4, envOnlyPass3+"=1", envUnknown+"=1s")
	ctx := testCtx(t, 60*time.Second)
	start := time.Now()
	r, err := api.Run(ctx, "noop3", map[string]any{"in": 1}, runtime.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`:%d lacks pipeline "noop3" (it has pipelines "pass3")`, w.pid())
	if r.Status != runtime.RunFailed || !strings.Contains(r.Error, want) {
		t.Fatalf("run %s %q, want an error with %q", r.Status, r.Error, want)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the run failed after %s", d)
	}
	for { // the worker dead-letters the message just after failing the run
		dls, err := b.DeadLetters(ctx)
		if err == nil && len(dls) == 1 && dls[0].RunID == r.ID && strings.Contains(dls[0].Reason, "lacks pipeline") {
			break
		}
		if err != nil || len(dls) > 1 || ctx.Err() != nil {
			t.Fatalf("dead letters %+v %v", dls, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
