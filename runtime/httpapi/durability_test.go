// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// brokenFile is an audit file whose writes or syncs fail once told to.
type brokenFile struct {
	*os.File
	writes, syncs *atomic.Bool
}

func (f brokenFile) Write(b []byte) (int, error) {
	if f.writes.Load() {
		return 0, errors.New("disk full")
	}
	return f.File.Write(b)
}

func (f brokenFile) Sync() error {
	if f.syncs.Load() {
		return errors.New("I/O error")
	}
	return f.File.Sync()
}

// syncTimer stands in for the interval syncer's timer.
type syncTimer struct {
	asked chan struct{}
	fire  chan time.Time
}

func (s *syncTimer) After(time.Duration) <-chan time.Time {
	s.asked <- struct{}{}
	return s.fire
}

// A failing audit file, in each sync mode: the first state-changing request
// to meet it gets 503 and its handler does not run (no run started, none
// cancelled, the user route not called), and so does every later one.
func TestAuditFailureRefusesStateChangesInEachMode(t *testing.T) {
	type failure struct {
		name string
		mode audit.SyncMode
		sync bool // the sync fails, not the write
	}
	failures := []failure{
		{"interval/write", audit.Interval, false},
		{"interval/sync", audit.Interval, true},
		{"always/write", audit.Always, false},
		{"always/sync", audit.Always, true},
	}
	requests := []string{"execute", "cancel", "user write route"}
	for _, f := range failures {
		for _, first := range requests {
			t.Run(f.name+"/"+first, func(t *testing.T) {
				var failWrites, failSyncs atomic.Bool
				timer := &syncTimer{asked: make(chan struct{}, 8), fire: make(chan time.Time)}
				path := filepath.Join(t.TempDir(), "audit.jsonl")
				l, err := audit.Open(path, audit.Options{Sync: f.mode, After: timer.After, File: func(name string, flag int, perm os.FileMode) (audit.File, error) {
					file, err := os.OpenFile(name, flag, perm)
					if err != nil {
						return nil, err
					}
					return brokenFile{File: file, writes: &failWrites, syncs: &failSyncs}, nil
				}})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				s := newSecServer(t, nil, httpapi.WithAuditLogger(l), secQuietLog)
				var userCalls atomic.Int32
				err = s.srv.Handle(httpapi.Route{Method: http.MethodPost, Path: "/archive", OperationID: "archive", Action: httpapi.ActionWrite, Pipeline: "secure_demo_pipeline"},
					http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						userCalls.Add(1)
						httpapi.WriteJSON(w, r, http.StatusOK, map[string]string{"archived": "yes"})
					}))
				if err != nil {
					t.Fatal(err)
				}
				// A finished run to cancel: 409 if the cancel handler ran.
				w := s.do(t, secReq{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute?wait=5s", body: `{"data":"x"}`, key: secAdminKey})
				secWantStatus(t, w, http.StatusOK, "execute before the failure")
				var run struct {
					RunID string `json:"run_id"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &run); err != nil {
					t.Fatal(err)
				}
				before := readAudit(t, path)

				if f.sync {
					failSyncs.Store(true)
				} else {
					failWrites.Store(true)
				}
				if f.sync && f.mode == audit.Interval {
					// The interval sync fails in the background, after
					// the records above were written and answered.
					<-timer.asked
					timer.fire <- time.Now()
					for l.Err() == nil {
						goruntime.Gosched()
					}
				}
				reqs := map[string]secReq{
					"execute":          {method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute", body: `{"data":"y"}`, key: secAdminKey},
					"cancel":           {method: http.MethodPost, path: "/runs/" + run.RunID + "/cancel", key: secAdminKey},
					"user write route": {method: http.MethodPost, path: "/archive", body: `{}`, key: secAdminKey},
				}
				order := []string{first}
				for _, r := range requests {
					if r != first {
						order = append(order, r)
					}
				}
				for i, name := range order {
					w := s.do(t, reqs[name])
					what := fmt.Sprintf("%s (%d. after the failure)", name, i+1)
					secWantStatus(t, w, http.StatusServiceUnavailable, what)
					if !strings.Contains(w.Body.String(), "the audit log cannot be written") || w.Header().Get("Retry-After") == "" {
						t.Errorf("%s: %v %s", what, w.Header(), w.Body.String())
					}
				}
				if n := secRunCount(t, s); n != 1 {
					t.Errorf("%d runs: a refused execute started one", n)
				}
				if n := userCalls.Load(); n != 0 {
					t.Errorf("the user route ran %d times", n)
				}
				failWrites.Store(false)
				failSyncs.Store(false)
				after := readAudit(t, path)
				switch {
				case f.sync && f.mode == audit.Always:
					// The intent was written but not synced: it may be in
					// the file, unanswered; nothing else is.
					if len(after) > len(before)+1 || (len(after) == len(before)+1 && after[len(before)].Type != audit.TypeIntent) {
						t.Errorf("records after the failure: %+v", after[len(before):])
					}
				case len(after) != len(before):
					t.Errorf("records after the failure: %+v", after[len(before):])
				}
				if _, err := audit.Verify(path); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// One chain across a server in each mode, with intents and rotations.
func TestAuditChainAcrossModesAndRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	for _, mode := range []audit.SyncMode{audit.Always, audit.Interval, audit.Always} {
		s := newSecServer(t, func(svc *httpapi.Service) {
			svc.Security.Audit = httpapi.Audit{Enabled: true, File: path, MaxSize: 2048, Sync: mode}
		}, secQuietLog)
		for i := range 6 {
			secWantStatus(t, s.do(t, secReq{path: "/pipelines", key: secAdminKey}), http.StatusOK, "list")
			w := s.do(t, secReq{method: http.MethodPost, path: "/pipelines/secure_demo_pipeline/execute", body: fmt.Sprintf(`{"data":"%d"}`, i), key: secAdminKey})
			secWantStatus(t, w, http.StatusAccepted, "execute")
		}
		if err := s.srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	files, err := audit.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want rotations: %v", files)
	}
	sum, err := audit.Verify(files...)
	if err != nil || sum.Records != 3*6*3 || sum.Intents != 3*6 || len(sum.Open) != 0 {
		t.Fatalf("verify %d files: %+v %v", len(files), sum, err)
	}
}

// crashChildEnv makes the test binary serve the secure demo (see
// TestAuditCrashChild) instead of running tests.
const crashChildEnv = "TASKWIRE_TEST_AUDIT_CRASH_CHILD"

// TestAuditCrashChild is the server that TestAuditKillLosesNoAnsweredRecord
// kills: the secure demo in the default sync mode with the longest sync
// interval, so that no interval sync happens while the test runs. It
// prints its address and serves until killed.
func TestAuditCrashChild(t *testing.T) {
	file := os.Getenv(crashChildEnv)
	if file == "" {
		t.Skip("the server of TestAuditKillLosesNoAnsweredRecord")
	}
	reg := runtime.NewRegistry()
	if err := securedemo.Register(reg, secTasks{}); err != nil {
		t.Fatal(err)
	}
	svc := securedemo.Service()
	svc.Security.Audit = httpapi.Audit{Enabled: true, File: file, SyncInterval: audit.MaxSyncInterval}
	svc.Security.RateLimits = nil
	srv, err := httpapi.New(testEngine(t, reg), svc, httpapi.WithGetenv(secEnv), secQuietLog)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	t.Fatal(http.Serve(ln, srv)) // until killed
}

// kill -9 of the server right after its responses arrived loses no audit
// record of them: in the default mode each record is written to the file
// (the kernel has it) before its response is released.
func TestAuditKillLosesNoAnsweredRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAuditCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+file)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	addr := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("the server printed no address")
	}
	go io.Copy(io.Discard, stdout)

	type answer struct {
		id     string
		status int
	}
	var mu sync.Mutex
	var answers []answer
	send := func(method, path, body, key string) error {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mu.Lock()
		answers = append(answers, answer{resp.Header.Get("X-Request-Id"), resp.StatusCode})
		mu.Unlock()
		return nil
	}
	for i := range 20 {
		key := secAdminKey
		if i%5 == 4 {
			// 401s for a wrong key are records too (those without
			// credentials are counted in summaries, which a kill
			// loses for the window it cuts short).
			key = "sk_wrong_key_of_the_kill_test_000000000000"
		}
		if err := send(http.MethodGet, "/pipelines", "", key); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				errs <- send(http.MethodPost, "/pipelines/secure_demo_pipeline/execute", `{"data":"crash"}`, secAdminKey)
				return
			}
			errs <- send(http.MethodGet, "/pipelines", "", secAdminKey)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The last response is in: kill the server at once.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()

	recs := readAudit(t, file)
	byID := map[string]audit.Record{}
	intents := map[string]bool{}
	for _, rec := range recs {
		switch rec.Type {
		case audit.TypeRequest:
			byID[rec.RequestID] = rec
		case audit.TypeIntent:
			intents[rec.RequestID] = true
		}
	}
	if len(answers) != 60 {
		t.Fatalf("%d answers", len(answers))
	}
	for _, a := range answers {
		rec, ok := byID[a.id]
		switch {
		case a.id == "":
			t.Errorf("a response without a request id (status %d)", a.status)
		case !ok:
			t.Errorf("no audit record of answered request %s (status %d)", a.id, a.status)
		case rec.Status != a.status:
			t.Errorf("request %s: record says %d, the client got %d", a.id, rec.Status, a.status)
		case rec.Route == "execute_secure_demo_pipeline" && (!intents[a.id] || rec.Intent == 0):
			t.Errorf("execute %s has no intent record", a.id)
		}
	}
	if sum, err := audit.Verify(file); err != nil || sum.Records != uint64(len(recs)) || sum.Records != 60+10 {
		t.Fatalf("verify: %+v %v (60 requests, 10 intents)", sum, err)
	}
}
