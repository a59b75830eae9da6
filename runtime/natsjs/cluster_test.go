// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// freePorts returns n loopback TCP ports free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts n embedded nats-servers with JetStream on loopback,
// routed to each other as one cluster, and waits for a JetStream meta
// leader.
func startCluster(t *testing.T, n int) []*server.Server {
	t.Helper()
	ports := freePorts(t, 2*n) // client, route
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	var srvs []*server.Server
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "taskwire-test", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		srvs = append(srvs, s)
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for _, s := range srvs {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("nats-server not ready")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, s := range srvs {
			if s.JetStreamIsLeader() {
				return srvs
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader")
		}
	}
}

// clientURLs is the comma-separated client URLs of srvs.
func clientURLs(srvs []*server.Server) string {
	var urls []string
	for _, s := range srvs {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// On a 3-node cluster with R3 streams and buckets, an API process and two
// worker processes: runs started before, while and after the leader of the
// runs bucket is stopped all complete, each once, with the right output.
// Starts refused during the leader election are retried with their
// idempotency key, and the test reports how long the API refused them.
func TestClusterSurvivesANodeStoppedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster and three processes")
	}
	t.Setenv(envReplicas, "3")
	srvs := startCluster(t, 3)
	url := clientURLs(srvs)
	dir := t.TempDir()
	_, base := startAPIProc(t, url, dir)
	startWorker(t, url, dir, 8)
	startWorker(t, url, dir, 8)
	ctx := testCtx(t, 4*time.Minute)
	hc := &http.Client{Timeout: 20 * time.Second}

	const runs = 300
	ids := make([]string, runs)
	var mu sync.Mutex
	var refusedFirst, refusedLast time.Time
	refusals := 0
	refusedWith := map[string]int{} // status code, or the client's error
	start := func(i int) {
		for attempt := 0; ; attempt++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/pipelines/pass3/execute", strings.NewReader(`{"in": `+strconv.Itoa(i)+`}`))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "cluster-"+strconv.Itoa(i))
			resp, err := hc.Do(req)
			if err == nil && resp.StatusCode == http.StatusAccepted {
				var v struct {
					RunID string `json:"run_id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if err == nil {
					ids[i] = v.RunID
					return
				}
			}
			status := 0
			if resp != nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			if status != 0 && status < 500 {
				t.Errorf("execute %d: %d", i, status)
				return
			}
			mu.Lock()
			now := time.Now()
			if refusedFirst.IsZero() {
				refusedFirst = now
			}
			refusedLast, refusals = now, refusals+1
			if status != 0 {
				refusedWith[strconv.Itoa(status)]++
			} else {
				refusedWith["no answer"]++
			}
			mu.Unlock()
			if ctx.Err() != nil || attempt > 200 {
				t.Errorf("execute %d: still refused (%d, %v)", i, status, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				start(i)
			}
		})
	}
	stopped := ""
	for i := range runs {
		if i == runs/3 {
			for _, s := range srvs {
				if s.JetStreamIsStreamLeader("$G", "KV_TASKWIRE_RUNS") {
					stopped = s.Name()
					s.Shutdown()
					break
				}
			}
			if stopped == "" {
				t.Fatal("no server leads KV_TASKWIRE_RUNS")
			}
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, id := range ids {
		for {
			resp, err := hc.Get(base + "/runs/" + id)
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Status  string         `json:"status"`
				Error   string         `json:"error"`
				Outputs map[string]int `json:"outputs"`
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err == nil && r.Status == "succeeded" {
				if r.Outputs["q2"] != i+3 {
					t.Fatalf("run %d output %v", i, r.Outputs)
				}
				break
			}
			if r.Status == "failed" || r.Status == "cancelled" || ctx.Err() != nil {
				t.Fatalf("run %d (%s) is %s (%q)", i, id, r.Status, r.Error)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Each run once: the list holds exactly the runs started.
	seen := listedRuns(t, hc, base, "pipeline_id=pass3")
	if len(seen) != runs {
		t.Fatalf("%d runs listed, want %d", len(seen), runs)
	}
	window := time.Duration(0)
	if refusals > 0 {
		window = refusedLast.Sub(refusedFirst)
	}
	for why, n := range refusedWith {
		if why != "503" {
			t.Errorf("%d starts refused with %s; the only refusal allowed during the election is 503", n, why)
		}
	}
	if window > 15*time.Second {
		t.Errorf("the API refused starts for %s", window)
	}
	t.Logf("stopped %s (leader of the runs bucket); %d refused starts %v over %s, each retried with its idempotency key", stopped, refusals, refusedWith, window.Round(time.Millisecond))
}
