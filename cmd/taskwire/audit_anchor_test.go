// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taskwire/taskwire/runtime/audit"
)

const auditTestKey = "k3y-for-tests-0123456789abcdef-XYZ"

func auditCLIEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(&env{stdout: &out, stderr: &errOut, getenv: func(n string) string { return vars[n] }}, args)
	return code, out.String(), errOut.String()
}

// The reproduction: `head -n 42` of 47 records verified ok. Against
// the checkpoint of record 47 it is a truncated tail.
func TestAuditVerifyCheckpointFindsTruncatedTail(t *testing.T) {
	path, _ := writeAuditLog(t, 47, 0)
	sum, err := audit.Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := "47:" + sum.Head
	code, out, _ := auditCLI(t, "audit", "verify", "--checkpoint", cp, path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 47 records, chain intact, through 1 checkpoint(s); last hash ") {
		t.Fatalf("intact log: exit %d %q", code, out)
	}
	writeAuditLines(t, path, auditLines(t, path)[:42])
	if code, out, _ := auditCLI(t, "audit", "verify", path); code != exitOK {
		t.Fatalf("without a checkpoint the cut log verifies, as before: exit %d %q", code, out)
	}
	code, out, errOut := auditCLI(t, "audit", "verify", "--checkpoint", cp, path)
	if code != exitInvalid || out != path+":42: tail truncated: log ends at 42, checkpoint says 47\n" || !strings.Contains(errOut, "the chain breaks after 42 intact records") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A checkpoint whose hash the log does not have: rewritten.
	code, out, _ = auditCLI(t, "audit", "verify", "--checkpoint", "40:"+strings.Repeat("ab", 32), path)
	if code != exitInvalid || !strings.Contains(out, "record 40's hash is") {
		t.Fatalf("wrong hash: exit %d %q", code, out)
	}
	if code, _, errOut := auditCLI(t, "audit", "verify", "--checkpoint", "47", path); code != exitUsage || !strings.Contains(errOut, "SEQ:HASH") {
		t.Fatalf("a bad checkpoint: exit %d %q", code, errOut)
	}
}

// An empty log is refused unless allowed, and always when a checkpoint
// names a record.
func TestAuditVerifyEmptyLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := auditCLI(t, "audit", "verify", path)
	if code != exitInvalid || !strings.Contains(out, path+": the log is empty") {
		t.Fatalf("empty: exit %d %q", code, out)
	}
	code, out, _ = auditCLI(t, "audit", "verify", "--allow-empty", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 0 records") {
		t.Fatalf("empty, allowed: exit %d %q", code, out)
	}
	code, out, _ = auditCLI(t, "audit", "verify", "--allow-empty", "--checkpoint", "47:"+strings.Repeat("0a", 32), path)
	if code != exitInvalid || !strings.Contains(out, "the log is empty, but a checkpoint says it held record 47") {
		t.Fatalf("empty against a checkpoint: exit %d %q", code, out)
	}
}

// A keyed log: verify needs the key, checks the MACs, and refuses the chain
// an attacker recomputes without the key over edited records, which verify
// without a key accepts.
func TestAuditVerifyKeyedChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path, audit.Options{Key: []byte(auditTestKey)})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := l.Log(audit.Record{Type: "request", Principal: "admin_full", Outcome: "ok", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	env := map[string]string{"TASKWIRE_AUDIT_KEY": auditTestKey, "SHORT": "x"}
	code, out, errOut := auditCLIEnv(t, env, "audit", "verify", "--key-env", "TASKWIRE_AUDIT_KEY", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 5 records, chain intact, keyed; last hash ") {
		t.Fatalf("with the key: exit %d %q %q", code, out, errOut)
	}
	code, out, errOut = auditCLIEnv(t, env, "audit", "verify", path)
	if code != exitUsage || out != "" || !strings.Contains(errOut, "its key is needed") || !strings.Contains(errOut, "--key-env") {
		t.Fatalf("without the key: exit %d %q %q", code, out, errOut)
	}
	for name, want := range map[string]string{"MISSING": "MISSING is not set", "SHORT": "at least 32"} {
		if code, _, errOut := auditCLIEnv(t, env, "audit", "verify", "--key-env", name, path); code != exitUsage || !strings.Contains(errOut, want) || !strings.Contains(errOut, "taskwire keygen") {
			t.Errorf("--key-env %s: exit %d %q", name, code, errOut)
		}
	}

	// The attacker edits record 2 and recomputes the whole chain with
	// plain SHA-256, the only hash they can compute without the key.
	ls := auditLines(t, path)
	ls[1] = strings.Replace(ls[1], `"principal":"admin_full"`, `"principal":"viewer_reports"`, 1)
	tail := regexp.MustCompile(`,"mac":"[0-9a-f]{64}"\}$`)
	prevField := regexp.MustCompile(`,"prev":"[0-9a-f]{64}"$`)
	prev := audit.GenesisHash
	for i, line := range ls {
		body := prevField.ReplaceAllString(tail.ReplaceAllString(line, ""), `,"prev":"`+prev+`"`)
		s := sha256.Sum256([]byte(body))
		prev = hex.EncodeToString(s[:])
		ls[i] = body + `,"hash":"` + prev + `"}`
	}
	writeAuditLines(t, path, ls)
	if code, out, _ := auditCLIEnv(t, env, "audit", "verify", path); code != exitOK {
		t.Fatalf("without the key the recomputed chain passes: exit %d %q", code, out)
	}
	code, out, _ = auditCLIEnv(t, env, "audit", "verify", "--key-env", "TASKWIRE_AUDIT_KEY", path)
	if code != exitInvalid || !strings.Contains(out, "no record is keyed: the chain was written without the key, or recomputed without it") {
		t.Fatalf("with the key the recomputed chain is refused: exit %d %q", code, out)
	}
}

// A recovery record is reported and is no break.
func TestAuditVerifyReportsRecovery(t *testing.T) {
	path, _ := writeAuditLog(t, 3, 0)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"2026-11-29T10:`)
	f.Close()
	l, err := audit.Open(path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, _ := auditCLI(t, "audit", "verify", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: 4 records, chain intact; last hash ") ||
		!strings.Contains(out, path+":4: record 5: recovery: record 4 was torn by a crash; its 31 bytes were cut at restart and are kept in this record\n") {
		t.Fatalf("exit %d %q", code, out)
	}
}
