// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The nats-server of TestBrokerKilledUnderLoad is this test binary too,
// so that it can be SIGKILLed like a real server.
const (
	envServer = "TASKWIRE_NATSJS_TEST_SERVER"
	envPort   = "TASKWIRE_NATSJS_TEST_PORT"
	envStore  = "TASKWIRE_NATSJS_TEST_STORE"
	// envReconcile sets the API process's WithReconcileInterval.
	envReconcile = "TASKWIRE_NATSJS_TEST_RECONCILE"
)

// serverMain runs a JetStream server on envPort with its store in envStore,
// every write synced (sync_interval: always, the durable setting of
// docs/scaling.md), until SIGTERM, SIGKILL or its parent goes away.
func serverMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	port, _ := strconv.Atoi(os.Getenv(envPort))
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: os.Getenv(envStore),
		SyncAlways: true, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		fmt.Fprintln(os.Stderr, "server: not ready")
		return 1
	}
	_ = os.WriteFile(filepath.Join(os.Getenv(envDir), fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o644)
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

func startServerProc(t *testing.T, dir, store string, port int) *workerProc {
	t.Helper()
	return startWorkerEnv(t, "", dir, 0, envServer+"=1", envWorker+"=0", envPort+"="+strconv.Itoa(port), envStore+"="+store)
}

// The outside check of issue 13 inside a test: an API process and two
// worker processes on one nats-server (file storage, every write synced),
// 1,500 runs submitted over HTTP, the server SIGKILLed a third of the way
// in and restarted on the same store half a second later. Every accepted
// run succeeds: enqueues and state writes ride the outage out, starts
// refused meanwhile (503) are retried with their idempotency key, and the
// reconciler enqueues again what the crash lost.
func TestBrokerKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a nats-server process killed under load")
	}
	dir, store := t.TempDir(), t.TempDir()
	port := freePorts(t, 1)[0]
	srv := startServerProc(t, dir, store, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	t.Setenv(envReconcile, "2s")
	_, base := startAPIProc(t, url, dir)
	startWorker(t, url, dir, 16)
	startWorker(t, url, dir, 16)
	ctx := testCtx(t, 4*time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}

	ids := make([]string, outsideRuns)
	var refusals refusals
	start := func(i int) { ids[i] = postRun(ctx, t, hc, func() string { return base }, i, &refusals, false) }
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range next {
				start(i)
			}
		})
	}
	for i := range outsideRuns {
		if i == outsideRuns/3 {
			srv.kill()
			time.Sleep(500 * time.Millisecond)
			startServerProc(t, dir, store, port)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	waitOutsideRuns(ctx, t, hc, base, ids, 150*time.Second)
	t.Logf("starts refused during the outage and retried: %v", refusals.counts())
}

// refusals counts the answers that refused a start, by answer.
type refusals struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *refusals) add(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]int)
	}
	r.m[why]++
}

func (r *refusals) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.m)
}

// postRun starts run i of pass3 over HTTP (input i, idempotency key
// crash-<i>) on the API at base(), and returns its ID. A refusal (an
// answer of 5xx, or none) is counted and the start retried every 100ms,
// for up to a minute: a start retried with its key gets the run that an
// earlier try created, if any. With giveUp, a start that got no answer is
// not retried: it returns "", and the run may or may not exist.
func postRun(ctx context.Context, t *testing.T, hc *http.Client, base func() string, i int, refused *refusals, giveUp bool) string {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base()+"/pipelines/pass3/execute", strings.NewReader(`{"in": `+strconv.Itoa(i)+`}`))
		if err != nil {
			t.Error(err)
			return ""
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "crash-"+strconv.Itoa(i))
		resp, err := hc.Do(req)
		why := "no answer"
		if err == nil {
			var v struct {
				RunID string `json:"run_id"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted && derr == nil {
				return v.RunID
			}
			why = strconv.Itoa(resp.StatusCode)
			if resp.StatusCode < 500 {
				t.Errorf("execute %d: %d", i, resp.StatusCode)
				return ""
			}
		}
		refused.add(why)
		if giveUp && err != nil {
			return ""
		}
		if ctx.Err() != nil || attempt > 600 {
			t.Errorf("execute %d: still refused (%s)", i, why)
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listedRuns returns the IDs of the runs GET /runs lists with query, every
// page of them.
func listedRuns(t *testing.T, hc *http.Client, base, query string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for cursor := ""; ; {
		resp, err := hc.Get(base + "/runs?limit=200&" + query + "&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Runs []struct {
				RunID string `json:"run_id"`
			} `json:"runs"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Runs {
			seen[r.RunID] = true
		}
		if page.NextCursor == "" {
			return seen
		}
		cursor = page.NextCursor
	}
}
