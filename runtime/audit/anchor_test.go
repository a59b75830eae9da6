// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var testKey = []byte("k3y-for-tests-0123456789abcdef-XYZ")

// cpRecorder is an Observer that keeps the checkpoints it is told about.
type cpRecorder struct {
	noObserver
	mu  sync.Mutex
	cps []Checkpoint
}

func (r *cpRecorder) Checkpointed(cp Checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cps = append(r.cps, cp)
}

func (r *cpRecorder) all() []Checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Checkpoint(nil), r.cps...)
}

func logN(t *testing.T, l *Logger, n int) {
	t.Helper()
	for i := range n {
		if err := l.Log(Record{Type: TypeRequest, RequestID: fmt.Sprintf("req%03d", i), Principal: "admin_full", Outcome: "ok", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
}

func problemOf(t *testing.T, err error, want string) {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) || !strings.Contains(p.Reason, want) {
		t.Fatalf("got %v, want a problem saying %q", err, want)
	}
}

// The finding: `head -n 42` of 47 records verified "ok". Against a
// checkpoint of record 47 it is a truncated tail; an empty file is refused
// too.
func TestVerifyAgainstCheckpoint(t *testing.T) {
	obs := &cpRecorder{}
	l, path := openLog(t, Options{Observer: obs, CheckpointInterval: -1})
	logN(t, l, 47)
	cp, err := l.Checkpoint()
	if err != nil || cp.Seq != 47 || cp.File != path {
		t.Fatalf("checkpoint %+v, %v", cp, err)
	}
	if got := obs.all(); len(got) != 1 || got[0] != cp {
		t.Fatalf("observer got %+v, want %+v", got, cp)
	}
	if sum, err := VerifyWith(VerifyOptions{Checkpoints: []Checkpoint{cp}}, path); err != nil || sum.Checkpoints != 1 {
		t.Fatalf("the intact log against its checkpoint: %+v, %v", sum, err)
	}
	l.Close()

	writeLines(t, path, lines(t, path)[:42])
	if _, err := Verify(path); err != nil {
		t.Fatalf("without a checkpoint the cut log still verifies (the finding): %v", err)
	}
	_, err = VerifyWith(VerifyOptions{Checkpoints: []Checkpoint{cp}}, path)
	problemOf(t, err, "tail truncated: log ends at 42, checkpoint says 47")
	var p *Problem
	if errors.As(err, &p); p.Line != 42 || p.File != path {
		t.Errorf("problem at %s:%d, want line 42", p.File, p.Line)
	}

	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(path); err != nil {
		t.Fatalf("Verify keeps accepting an empty log: %v", err)
	}
	_, err = VerifyWith(VerifyOptions{Checkpoints: []Checkpoint{cp}}, path)
	problemOf(t, err, "the log is empty, but a checkpoint says it held record 47")
	_, err = VerifyWith(VerifyOptions{RefuseEmpty: true}, path)
	problemOf(t, err, "the log is empty")
	if _, err := VerifyWith(VerifyOptions{RefuseEmpty: true, Checkpoints: []Checkpoint{{Seq: 0, Hash: GenesisHash}}}, path); err == nil {
		t.Errorf("a checkpoint of an empty log does not make an empty log good when empty logs are refused")
	}
}

// A log rewritten after its checkpoint (here: recomputed from record 10 on)
// does not pass through the checkpoint's hash.
func TestVerifyCheckpointHashMismatch(t *testing.T) {
	l, path := openLog(t, Options{CheckpointInterval: -1})
	logN(t, l, 12)
	cp, _ := l.Checkpoint()
	l.Close()
	ls := lines(t, path)
	ls[9] = strings.Replace(ls[9], `"principal":"admin_full"`, `"principal":"someone"`, 1)
	writeLines(t, path, recompute(t, ls, nil))
	if _, err := Verify(path); err != nil {
		t.Fatalf("the recomputed chain verifies alone: %v", err)
	}
	_, err := VerifyWith(VerifyOptions{Checkpoints: []Checkpoint{cp}}, path)
	problemOf(t, err, "record 12's hash is ")
}

// recompute rebuilds the chain over the records' bodies exactly as someone
// who can rewrite the file would: a plain SHA-256 per record over the bytes
// before the hash field, each record's prev the hash before. A keyed line's
// "mac" field becomes "hash" (without the key a MAC cannot be made).
func recompute(t *testing.T, ls []string, from map[int]bool) []string {
	t.Helper()
	tail := regexp.MustCompile(`,"(hash|mac)":"[0-9a-f]{64}"\}$`)
	prevRE := regexp.MustCompile(`,"prev":"[0-9a-f]{64}"$`)
	out := make([]string, len(ls))
	prev := GenesisHash
	for i, line := range ls {
		if from != nil && !from[i] {
			out[i] = line
			prev = line[len(line)-66 : len(line)-2]
			continue
		}
		body := tail.ReplaceAllString(line, "")
		body = prevRE.ReplaceAllString(body, `,"prev":"`+prev+`"`)
		sum := sha256.Sum256([]byte(body))
		prev = hex.EncodeToString(sum[:])
		out[i] = body + `,"hash":"` + prev + `"}`
	}
	return out
}

// The keyed chain: records end with "mac"; an attacker who edits records and
// recomputes the chain without the key gets a log that verifies without the
// key, and that verify with the key refuses.
func TestKeyedChainRefusesRecomputedChain(t *testing.T) {
	l, path := openLog(t, Options{Key: testKey})
	logN(t, l, 6)
	l.Close()
	ls := lines(t, path)
	for _, line := range ls {
		if !strings.Contains(line, `,"mac":"`) || strings.Contains(line, `"hash"`) || strings.Contains(line, string(testKey)) {
			t.Fatalf("a keyed record ends with its mac and never shows the key: %s", line)
		}
	}
	keyed := VerifyOptions{Key: testKey}
	if sum, err := VerifyWith(keyed, path); err != nil || sum.Records != 6 || sum.KeyedFrom != 1 {
		t.Fatalf("verify with the key: %+v, %v", sum, err)
	}
	if _, err := Verify(path); !errors.Is(err, ErrKeyNeeded) || !strings.Contains(err.Error(), "key is needed") {
		t.Fatalf("verify without the key = %v, want ErrKeyNeeded", err)
	}
	if _, err := VerifyWith(VerifyOptions{Key: []byte("another-key-of-enough-length-0123456789")}, path); err == nil || !strings.Contains(err.Error(), "MAC") {
		t.Fatalf("verify with another key = %v", err)
	}

	tampered := append([]string(nil), ls...)
	tampered[2] = strings.Replace(tampered[2], `"principal":"admin_full"`, `"principal":"viewer_reports"`, 1)

	t.Run("whole chain recomputed", func(t *testing.T) {
		writeLines(t, path, recompute(t, tampered, nil))
		if sum, err := Verify(path); err != nil || sum.Records != 6 {
			t.Fatalf("without the key the attacker's chain passes (that is why the key exists): %+v %v", sum, err)
		}
		_, err := VerifyWith(keyed, path)
		problemOf(t, err, "no record is keyed")
	})
	t.Run("tail recomputed", func(t *testing.T) {
		writeLines(t, path, recompute(t, tampered, map[int]bool{2: true, 3: true, 4: true, 5: true}))
		_, err := VerifyWith(keyed, path)
		problemOf(t, err, "record 3 has a plain hash after keyed records from record 1")
	})
	t.Run("mac field kept", func(t *testing.T) {
		forged := recompute(t, tampered, nil)
		for i := range forged {
			forged[i] = strings.Replace(forged[i], `,"hash":"`, `,"mac":"`, 1)
		}
		writeLines(t, path, forged)
		_, err := VerifyWith(keyed, path)
		problemOf(t, err, "record 1: its content does not match its MAC")
	})
}

// A keyed chain needs its key to be continued, and goes on across rotated files.
func TestKeyedChainOpenAndRotation(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "a.jsonl"), Options{Key: []byte("short")}); err == nil || !strings.Contains(err.Error(), "taskwire keygen") {
		t.Errorf("a short key: %v", err)
	}
	obs := &cpRecorder{}
	l, path := openLog(t, Options{Key: testKey, MaxSize: 900, Observer: obs, CheckpointInterval: -1})
	logN(t, l, 12)
	l.Close()
	files, _ := Files(path)
	if len(files) < 3 {
		t.Fatalf("want rotated files, got %v", files)
	}
	if sum, err := VerifyWith(VerifyOptions{Key: testKey, Checkpoints: obs.all()}, files...); err != nil || sum.Records != 12 || sum.Checkpoints != len(obs.all()) {
		t.Fatalf("keyed chain across %d files against %d checkpoints: %+v, %v", len(files), len(obs.all()), sum, err)
	}
	// Checkpoints: at each rotation (naming the rotated file) and at close.
	cps := obs.all()
	if len(cps) != len(files) || cps[len(cps)-1].Seq != 12 || cps[0].File != files[0] {
		t.Fatalf("checkpoints %+v for files %v", cps, files)
	}
	for _, cp := range cps {
		if err := cp.CheckMAC(testKey); err != nil {
			t.Errorf("checkpoint %d: %v", cp.Seq, err)
		}
	}
	forged := cps[0]
	forged.Seq++
	if err := forged.CheckMAC(testKey); err == nil {
		t.Errorf("an edited checkpoint passes its mac")
	}
	if _, err := VerifyWith(VerifyOptions{Key: testKey, Checkpoints: []Checkpoint{forged}}, files...); err == nil || !strings.Contains(err.Error(), "mac does not match") {
		t.Errorf("verify against an edited checkpoint: %v", err)
	}

	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "keyed") {
		t.Errorf("a keyed chain opened without its key: %v", err)
	}
	if _, err := Open(path, Options{Key: []byte("another-key-of-enough-length-0123456789")}); err == nil || !strings.Contains(err.Error(), "does not match the chain key") {
		t.Errorf("a keyed chain opened with another key: %v", err)
	}
	// An unkeyed log that gets a key goes on keyed; verify says from where.
	l2, plain := openLog(t, Options{})
	logN(t, l2, 2)
	l2.Close()
	l3, err := Open(plain, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	logN(t, l3, 2)
	l3.Close()
	if sum, err := VerifyWith(VerifyOptions{Key: testKey}, plain); err != nil || sum.KeyedFrom != 3 {
		t.Fatalf("a chain keyed from record 3: %+v, %v", sum, err)
	}
}

// A torn last line is cut but kept: a recovery record, chained and synced,
// carries its bytes, and the torn record's number is never given again.
func TestTornRecordKeptAsRecovery(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("keyed=%v", key != nil), func(t *testing.T) {
			l, path := openLog(t, Options{Key: key})
			logN(t, l, 3)
			l.Close()
			torn := `{"seq":4,"time":"2026-11-29T10:00:00Z","type":"request","principal":"adm`
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(torn)
			f.Close()
			l2, err := Open(path, Options{Now: fixedClock(), Key: key})
			if err != nil {
				t.Fatal(err)
			}
			seq, err := l2.Append(Record{Type: TypeRequest, Outcome: "ok"})
			if err != nil || seq != 6 {
				t.Fatalf("the first record after the recovery got %d, %v; want 6 (4 was the torn record's, 5 the recovery's)", seq, err)
			}
			l2.Close()
			ls := lines(t, path)
			if len(ls) != 5 || strings.Contains(ls[2]+ls[3], torn) && !strings.Contains(ls[3], `"type":"recovery"`) {
				t.Fatalf("lines %q", ls)
			}
			var rec Record
			if err := json.Unmarshal([]byte(ls[3]), &rec); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(torn))
			b64, _ := base64.StdEncoding.DecodeString(rec.Details["torn_base64"].(string))
			if rec.Seq != 5 || rec.Type != TypeRecovery || rec.Outcome != OutcomeRecovered || rec.Details["torn_seq"] != 4.0 ||
				rec.Details["torn_bytes"] != float64(len(torn)) || rec.Details["torn_sha256"] != hex.EncodeToString(sum[:]) || string(b64) != torn {
				t.Fatalf("recovery record %+v", rec)
			}
			got, err := VerifyWith(VerifyOptions{Key: key}, path)
			if err != nil || got.Records != 5 || len(got.Recoveries) != 1 || got.Recoveries[0] != (Recovery{File: path, Line: 4, Seq: 5, TornSeq: 4, TornBytes: int64(len(torn))}) {
				t.Fatalf("verify: %+v, %v", got, err)
			}
		})
	}
	t.Run("first record torn", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(path, []byte(`{"seq":1,"ti`), 0o600)
		l, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		logN(t, l, 1)
		l.Close()
		if sum, err := Verify(path); err != nil || sum.Records != 2 || sum.First != 2 || len(sum.Recoveries) != 1 {
			t.Fatalf("verify: %+v, %v", sum, err)
		}
	})
	t.Run("only the newline missing", func(t *testing.T) {
		l, path := openLog(t, Options{})
		logN(t, l, 2)
		l.Close()
		data, _ := os.ReadFile(path)
		os.WriteFile(path, data[:len(data)-1], 0o600)
		l2, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		l2.Close()
		if sum, err := Verify(path); err != nil || sum.Records != 2 || len(sum.Recoveries) != 0 {
			t.Fatalf("a whole record short of its newline is kept as it is: %+v, %v", sum, err)
		}
	})
	t.Run("a forged recovery record hides no deletion", func(t *testing.T) {
		l, path := openLog(t, Options{})
		logN(t, l, 3)
		l.Close()
		ls := lines(t, path)
		// A recovery record claiming record 2 was torn, where record 2 is not missing.
		rec := Record{Seq: 3, Time: time.Now().UTC(), Type: TypeRecovery, Outcome: OutcomeRecovered}
		line, _ := appendRecord(nil, &rec, []byte(`{"torn_seq":1}`), &genesis, nil)
		writeLines(t, path, append(ls[:2:2], strings.TrimSuffix(string(line), "\n")))
		if _, err := Verify(path); err == nil {
			t.Fatalf("a recovery record that names no torn record verifies")
		}
	})
}

// Checkpoints come at open (of a log with records), every interval with new
// records, and at close.
func TestCheckpointsPeriodicAndAtClose(t *testing.T) {
	obs := &cpRecorder{}
	l, path := openLog(t, Options{Observer: obs, CheckpointInterval: 5 * time.Millisecond})
	logN(t, l, 3)
	deadline := time.Now().Add(5 * time.Second)
	for len(obs.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if cps := obs.all(); len(cps) == 0 || cps[0].Seq != 3 {
		t.Fatalf("periodic checkpoints %+v", cps)
	}
	n := len(obs.all())
	time.Sleep(30 * time.Millisecond)
	if len(obs.all()) != n {
		t.Errorf("checkpoints without new records: %+v", obs.all())
	}
	logN(t, l, 1)
	l.Close()
	cps := obs.all()
	if last := cps[len(cps)-1]; last.Seq != 4 || last.MAC != "" || last.Hash != lines(t, path)[3][len(lines(t, path)[3])-66:len(lines(t, path)[3])-2] {
		t.Fatalf("checkpoint at close %+v", last)
	}
	obs2 := &cpRecorder{}
	l2, err := Open(path, Options{Observer: obs2, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if cps := obs2.all(); len(cps) != 2 || cps[0].Seq != 4 || cps[0].Hash != cps[1].Hash {
		t.Fatalf("checkpoints at open and close %+v", cps)
	}
}

func TestParseCheckpoint(t *testing.T) {
	const h = "c7186c26366b56fdc6207102c33bf16d8042b8a716498c1c971bb784fd89bd39"
	for _, in := range []string{
		"47:" + h,
		`{"time":"2026-12-02T18:00:00Z","level":"INFO","msg":"audit checkpoint","file":"audit.jsonl","seq":47,"hash":"` + h + `","checkpoint_time":"2026-12-02T18:00:00Z"}`,
		`time=2026-12-02T18:00:00.000Z level=INFO msg="audit checkpoint" file="my audit.jsonl" seq=47 hash=` + h + ` checkpoint_time=2026-12-02T18:00:00Z`,
	} {
		cp, err := ParseCheckpoint(in)
		if err != nil || cp.Seq != 47 || cp.Hash != h {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v", in, cp, err)
		}
	}
	for in, want := range map[string]string{
		"47":                "write SEQ:HASH",
		"x:" + h:            "not a whole number",
		"47:abc":            "not 64 hex digits",
		`{"seq":47`:         "not a JSON log line",
		`seq=47 hash="` + h: "not a valid quoted string",
		`seq=47 hash=` + h + ` checkpoint_time=yesterday`: "not an RFC 3339 time",
	} {
		if _, err := ParseCheckpoint(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCheckpoint(%q) = %v, want %q", in, err, want)
		}
	}
	// A keyed checkpoint's line, parsed back, passes its mac.
	cp := Checkpoint{File: "my audit.jsonl", Seq: 9, Hash: h, Time: time.Date(2026, 12, 2, 18, 0, 0, 5, time.UTC)}
	cp.MAC = cp.macOf(testKey)
	line := fmt.Sprintf(`level=INFO msg="audit checkpoint" file=%q seq=%d hash=%s checkpoint_time=%s mac=%s`, cp.File, cp.Seq, cp.Hash, cp.Time.Format(time.RFC3339Nano), cp.MAC)
	back, err := ParseCheckpoint(line)
	if err != nil || back.CheckMAC(testKey) != nil {
		t.Fatalf("parsed %+v, %v", back, err)
	}
}

func TestKeyFromEnv(t *testing.T) {
	env := map[string]string{"GOOD": string(testKey), "SHORT": "abc"}
	if k, err := KeyFromEnv("GOOD", func(n string) string { return env[n] }); err != nil || string(k) != string(testKey) {
		t.Errorf("GOOD: %q %v", k, err)
	}
	if k, err := KeyFromEnv("", nil); err != nil || k != nil {
		t.Errorf("no variable: %q %v", k, err)
	}
	for name, want := range map[string]string{"MISSING": "MISSING is not set; make a key with `taskwire keygen`", "SHORT": "is 3 bytes, it must be at least 32"} {
		if _, err := KeyFromEnv(name, func(n string) string { return env[n] }); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
