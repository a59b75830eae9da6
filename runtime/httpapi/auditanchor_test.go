// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/examples/secureapi/securedemo"
	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

const secAuditKey = "sk_audit_Y2hhaW4ta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5"

// Over real HTTP, with the audit log keyed and checkpointed: checkpoints
// reach the server log and the metrics, a checkpoint's log line verifies
// the log with its key, and the same line finds the log's tail cut later.
func TestAuditCheckpointsReachServerLogAndMetrics(t *testing.T) {
	var logs testutil.Buffer
	s := newSecServer(t, func(svc *httpapi.Service) {
		svc.Security.Audit.KeyEnv = "TASKWIRE_AUDIT_KEY"
		svc.Security.Audit.CheckpointInterval = 5 * time.Millisecond
	}, httpapi.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), httpapi.WithGetenv(func(n string) string {
		if n == "TASKWIRE_AUDIT_KEY" {
			return secAuditKey
		}
		return secEnv(n)
	}))
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for range 4 {
		get("/pipelines", secAdminKey)
	}
	get("/pipelines", "") // a 401 is audited too

	// The metrics request is record 6; wait until a logged checkpoint
	// covers it and the metrics, read after the checkpoint before it,
	// show one too (each GET /metrics reads the gauge of its moment).
	gaugeRE := regexp.MustCompile(`(?m)^taskwire_audit_checkpoint_sequence (\d+)$`)
	var metrics string
	var gauge uint64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, body := get("/metrics", secAdminKey)
		if code != 200 {
			t.Fatalf("metrics: %d %s", code, body)
		}
		metrics, gauge = body, 0
		if m := gaugeRE.FindStringSubmatch(metrics); m != nil {
			gauge, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if cps := logs.Lines(`msg="audit checkpoint"`); len(cps) > 0 && gauge >= 5 {
			if cp, err := audit.ParseCheckpoint(cps[len(cps)-1]); err == nil && cp.Seq >= 6 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := logs.Lines(`msg="audit checkpoint"`)
	if len(lines) == 0 {
		t.Fatalf("no audit checkpoint in the server log:\n%s", logs.String())
	}
	line := lines[len(lines)-1]
	cp, err := audit.ParseCheckpoint(line)
	if err != nil || cp.Seq < 6 || cp.File != s.auditFile || cp.MAC == "" || strings.Contains(line, secAuditKey) {
		t.Fatalf("checkpoint line %q: %+v, %v", line, cp, err)
	}
	if err := cp.CheckMAC([]byte(secAuditKey)); err != nil {
		t.Fatalf("the logged checkpoint's mac: %v", err)
	}
	// The gauge shows the sequence number of a checkpoint of the log (the
	// one of its moment: checkpoints go on while requests come).
	if gauge < 5 {
		t.Fatalf("checkpoint gauge:\n%s", grepLines(metrics, "taskwire_audit_checkpoint"))
	}
	logged := false
	for _, l := range lines {
		if c, err := audit.ParseCheckpoint(l); err == nil && c.Seq == gauge {
			logged = true
		}
	}
	if !logged || !strings.Contains(metrics, "taskwire_audit_checkpoint_timestamp_seconds ") {
		t.Errorf("the gauge says record %d, which no logged checkpoint names:\n%s", gauge, strings.Join(lines, "\n"))
	}

	key := []byte(secAuditKey)
	if sum, err := audit.VerifyWith(audit.VerifyOptions{Key: key, Checkpoints: []audit.Checkpoint{cp}}, s.auditFile); err != nil || sum.KeyedFrom != 1 || sum.Checkpoints != 1 {
		t.Fatalf("verify against the logged checkpoint: %+v, %v", sum, err)
	}
	// Cut the log's tail below the checkpoint: the checkpoint finds it.
	data, _ := os.ReadFile(s.auditFile)
	recs := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(s.auditFile+".cut", []byte(strings.Join(recs[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = audit.VerifyWith(audit.VerifyOptions{Key: key, Checkpoints: []audit.Checkpoint{cp}}, s.auditFile+".cut")
	if err == nil || !strings.Contains(err.Error(), "tail truncated: log ends at 3, checkpoint says") {
		t.Fatalf("verify of the cut log: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A keyed audit log fails closed at start without a usable key, and never
// names the key.
func TestAuditKeyRequiredAtStart(t *testing.T) {
	for name, c := range map[string]struct {
		key, want string
	}{
		"missing":   {"", "TASKWIRE_AUDIT_KEY is not set; make a key with `taskwire keygen`"},
		"too short": {"short-key", "is 9 bytes, it must be at least 32"},
	} {
		t.Run(name, func(t *testing.T) {
			reg := runtime.NewRegistry()
			if err := securedemo.Register(reg, secTasks{}); err != nil {
				t.Fatal(err)
			}
			svc := securedemo.Service()
			svc.Security.Audit.File = t.TempDir() + "/audit.jsonl"
			svc.Security.Audit.KeyEnv = "TASKWIRE_AUDIT_KEY"
			srv, err := httpapi.New(testEngine(t, reg), svc, secQuietLog, httpapi.WithGetenv(func(n string) string {
				if n == "TASKWIRE_AUDIT_KEY" {
					return c.key
				}
				return secEnv(n)
			}))
			if err == nil {
				srv.Shutdown(context.Background())
				t.Fatal("the server started without a usable chain key")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "security.audit.key_env") || (c.key != "" && strings.Contains(err.Error(), c.key)) {
				t.Fatalf("error %q, want it to say %q", err, c.want)
			}
		})
	}
}
