// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/internal/fault"
)

// crashRuns is how many runs are in flight when a worker is killed.
const crashRuns = 300

// A worker SIGKILLed at each step of a task's life (a delivery received,
// the task executed, its result written, its successors enqueued), while
// hundreds of runs are in flight across two worker processes, loses no
// run: once a replacement worker starts, every run started completes, and
// with the right outputs. Run it many times (-count) to cover the
// interleavings.
func TestWorkerKilledAtEveryStep(t *testing.T) {
	for _, point := range fault.Points {
		t.Run(string(point), func(t *testing.T) {
			s := startServer(t)
			dir := t.TempDir()
			_, api := openAPI(t, s.ClientURL(), dir)
			faulty := startFaultyWorker(t, s.ClientURL(), dir, 16, point, 100)
			startWorker(t, s.ClientURL(), dir, 16)
			ctx := testCtx(t, 2*time.Minute)

			ids := make([]string, crashRuns)
			var wg sync.WaitGroup
			errs := make(chan error, crashRuns)
			for i := range ids {
				wg.Go(func() {
					r, err := api.Start(ctx, "pass3", map[string]any{"in": i}, runtime.StartOptions{})
					if err != nil {
						errs <- err
						return
					}
					ids[i] = r.ID
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			select {
			case <-faulty.done:
			case <-ctx.Done():
				t.Fatalf("the worker did not reach %s 100 times", point)
			}
			if code := faulty.cmd.ProcessState.ExitCode(); code != -1 { // -1: killed by a signal
				t.Fatalf("the faulty worker exited with %d, not by SIGKILL", code)
			}
			startWorker(t, s.ClientURL(), dir, 16) // the replacement

			// Redeliveries come after AckWait (2s here): a run not done well
			// after that is stuck.
			wctx := testCtx(t, 30*time.Second)
			for i, id := range ids {
				r, err := api.Wait(wctx, id)
				if err != nil {
					st, _ := api.Get(ctx, id)
					t.Fatalf("run %d (%s): %v; it is %s with tasks %+v", i, id, err, st.Status, st.Tasks)
				}
				if r.Status != runtime.RunSucceeded {
					t.Fatalf("run %d (%s) %s: %q %+v", i, id, r.Status, r.Error, r.Tasks)
				}
				if got, err := runtime.Output[int](r, "q2"); err != nil || got != i+3 {
					t.Fatalf("run %d output %v, %v", i, got, err)
				}
			}
		})
	}
}

// outsideRuns is how many runs the outside check submits over HTTP.
const outsideRuns = 1500

// The check from outside that used to leave runs stuck: an API process and
// two worker processes on one nats-server (file storage), 1,500 runs
// submitted over HTTP, one worker SIGKILLed a third of the way in and
// restarted. Every run must finish, succeeded, with the right output.
// make crash-test runs it ten times in a row.
func TestOutsideWorkerKilledUnderLoad(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	_, base := startAPIProc(t, s.ClientURL(), dir)
	victim := startWorker(t, s.ClientURL(), dir, 16)
	startWorker(t, s.ClientURL(), dir, 16)
	ctx := testCtx(t, 3*time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}

	ids := make([]string, outsideRuns)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range next {
				body := strings.NewReader(`{"in": ` + strconv.Itoa(i) + `}`)
				resp, err := hc.Post(base+"/pipelines/pass3/execute", "application/json", body)
				if err != nil {
					t.Errorf("execute %d: %v", i, err)
					continue
				}
				var v struct {
					RunID string `json:"run_id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || err != nil {
					t.Errorf("execute %d: %d %v", i, resp.StatusCode, err)
					continue
				}
				ids[i] = v.RunID
			}
		})
	}
	for i := range outsideRuns {
		if i == outsideRuns/3 {
			victim.kill()
			startWorker(t, s.ClientURL(), dir, 16)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	// A killed worker's tasks come back after AckWait (2s here).
	waitOutsideRuns(ctx, t, hc, base, ids, 60*time.Second)
}

// An API process SIGKILLed while it starts runs loses none. It kills
// itself at the outsideRuns/3-th run it has stored, before that run's first
// task is enqueued, with 32 clients starting runs over HTTP (others are then
// between their active marker and their record, or their record and their
// first task). A new API process takes over. Clients of even runs retry a
// start that got no answer with its idempotency key, and get the run an
// earlier try stored, which the start then carries forward; clients of odd
// runs give up, so their runs stored without an answer are known to no
// one: the new process's Resume must find them through their markers (the
// reconciler is off). Every run that exists ends succeeded.
func TestAPIKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("an API process killed under load")
	}
	s := startServer(t)
	dir := t.TempDir()
	t.Setenv(envReconcile, "1h")
	victim := startWorkerEnv(t, s.ClientURL(), dir, 0, envAPI+"=1", envWorker+"=0", envFault+"="+string(fault.Created)+":"+strconv.Itoa(outsideRuns/3))
	addr := filepath.Join(dir, "api-addr")
	var mu sync.Mutex
	base := "http://" + waitFile(t, addr, 20*time.Second)
	current := func() string { mu.Lock(); defer mu.Unlock(); return base }
	startWorker(t, s.ClientURL(), dir, 16)
	startWorker(t, s.ClientURL(), dir, 16)
	ctx := testCtx(t, 3*time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}

	ids := make([]string, outsideRuns)
	var refusals refusals
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range next {
				ids[i] = postRun(ctx, t, hc, current, i, &refusals, i%2 == 1)
			}
		})
	}
	died := victim.done
	for i := 0; i < outsideRuns; {
		select {
		case next <- i:
			i++
		case <-died:
			died = nil
			if err := os.Remove(addr); err != nil {
				t.Fatal(err)
			}
			_, b := startAPIProc(t, s.ClientURL(), dir)
			mu.Lock()
			base = b
			mu.Unlock()
		}
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	if died != nil {
		t.Fatal("the API process did not reach its fault point")
	}
	waitOutsideRuns(ctx, t, hc, current(), ids, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := listedRuns(t, hc, current(), "pipeline_id=pass3&status=pending")
		maps.Copy(left, listedRuns(t, hc, current(), "pipeline_id=pass3&status=running"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs that no client knows never ended: %v", len(left), left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	all := listedRuns(t, hc, current(), "pipeline_id=pass3")
	succeeded := listedRuns(t, hc, current(), "pipeline_id=pass3&status=succeeded")
	if len(all) != len(succeeded) {
		t.Fatalf("%d runs, %d succeeded", len(all), len(succeeded))
	}
	t.Logf("%d runs stored, all succeeded; starts refused while no API process ran: %v", len(all), refusals.counts())
}
