// SPDX-License-Identifier: Apache-2.0

package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sum1 = "54ee267ca5a2e2a08d64b208b391fb1f8c362b3df806c5c5ccacc03a2a7148f6"

func TestParse(t *testing.T) {
	data := `# rotated keys
keys:
  ci_deploy:
    sha256: ` + strings.ToUpper(sum1) + `
    role: admin
    pipelines: ["*"]
    expires: 2027-06-30
    description: the deploy job
  reports_bot:
    sha256: ` + strings.Repeat("ab", 32) + `
    role: viewer
    pipelines: [report_*]
`
	got, err := Parse("keys.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	e := got[0]
	if e.ID != "ci_deploy" || e.SHA256 != sum1 || e.Role != "admin" || len(e.Pipelines) != 1 || e.Pipelines[0] != "*" ||
		!e.Expires.Equal(time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)) || e.Description != "the deploy job" || e.Line != 3 {
		t.Errorf("entry %+v", e)
	}
	if got[1].ID != "reports_bot" || got[1].Pipelines[0] != "report_*" {
		t.Errorf("entry %+v", got[1])
	}
	for _, empty := range []string{"", "# nothing yet\n", "keys:\n", "keys: {}\n"} {
		if got, err := Parse("k", []byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no keys", empty, got, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct{ data, want string }{
		{"keys: [a]\n", "k:1:7: keys must be a mapping"},
		{"keyz: {}\n", `k:1:1: unknown key "keyz" in a keys file; known keys: keys`},
		{"keys:\n  a: sk_live_0123456789abcdefghijklmnopqrstuv\n", `k:2:6: key "a": a keys file holds the key's sha256, never the key itself`},
		{"keys:\n  a:\n    env: KEY_A\n    role: admin\n", `k:3:5: key "a": a keys file holds only the key's sha256 (no env)`},
		{"keys:\n  a:\n    sha256: abc\n    role: admin\n", `k:3:13: key "a" sha256 must be 64 hexadecimal digits`},
		{"keys:\n  a:\n    sha256: " + sum1 + "\n", `k:2:3: key "a" has no role`},
		{"keys:\n  a:\n    sha256: " + sum1 + "\n    role: Admin\n", `k:4:11: key "a" role "Admin" is not a snake_case name`},
		{"keys:\n  a:\n    sha256: " + sum1 + "\n    role: admin\n    pipelines: [Bad]\n", `k:5:17: key "a" pipelines: `},
		{"keys:\n  a:\n    sha256: " + sum1 + "\n    role: admin\n    expires: soon\n", `k:5:14: key "a" expires: "soon" is not a date`},
		{"keys:\n  a:\n    sha256: " + sum1 + "\n    role: admin\n    rol: admin\n", `k:5:5: unknown key "rol" in key "a"`},
		{"keys:\n  Bad_Id:\n    sha256: " + sum1 + "\n    role: admin\n", `k:2:3: key id "Bad_Id" is not a snake_case name`},
		{"keys:\n  a: {sha256: " + sum1 + ", role: admin}\n  a: {sha256: " + sum1 + ", role: admin}\n", `k:3:3: duplicate key "a" in keys`},
		{"keys:\n  a: &x {sha256: " + sum1 + ", role: admin}\n  b: *x\n", "anchors and aliases"},
		{"keys: {a: [\n", "k: "},
	}
	for _, c := range cases {
		_, err := Parse("k", []byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.data, err, c.want)
		}
	}
	// Every problem at once.
	_, err := Parse("k", []byte("keys:\n  a:\n    role: admin\n  b:\n    sha256: "+sum1+"\n"))
	if err == nil || !strings.Contains(err.Error(), `key "a" has no sha256`) || !strings.Contains(err.Error(), `key "b" has no role`) {
		t.Errorf("err = %v, want both problems", err)
	}
}

func TestAppend(t *testing.T) {
	e := Entry{ID: "ci_deploy", SHA256: sum1, Role: "admin", Pipelines: []string{"*", "report_*"}, Expires: time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC), Description: `the "deploy" job`}
	for _, start := range []string{"", "# keys of prod\n", "keys:\n", "keys:\n  old_one:\n    sha256: " + strings.Repeat("cd", 32) + "\n    role: viewer\n    pipelines: []"} {
		out, err := Append("k", []byte(start), e)
		if err != nil {
			t.Fatalf("Append to %q: %v", start, err)
		}
		if !strings.HasPrefix(string(out), start) {
			t.Errorf("Append changed what was there:\n%s", out)
		}
		got, err := Parse("k", out)
		if err != nil {
			t.Fatalf("the result does not parse: %v\n%s", err, out)
		}
		last := got[len(got)-1]
		if last.ID != e.ID || last.SHA256 != e.SHA256 || last.Role != e.Role || len(last.Pipelines) != 2 || !last.Expires.Equal(e.Expires) || last.Description != e.Description {
			t.Errorf("appended entry reads back as %+v", last)
		}
		if _, err := Append("k", out, e); err == nil || !strings.Contains(err.Error(), "already in the file") {
			t.Errorf("appending the same id twice: %v", err)
		}
	}
	if _, err := Append("k", []byte("keys: {}\n"), e); err == nil {
		t.Error("appended to a flow-style mapping")
	}
	if _, err := Append("k", []byte("keys: [\n"), e); err == nil {
		t.Error("appended to a broken file")
	}
	if _, err := Append("k", nil, Entry{ID: "x", SHA256: "nope", Role: "admin"}); err == nil {
		t.Error("appended an invalid entry")
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.yaml")
	if _, err := Read(path); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("#", MaxSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("keys:\n  a:\n    sha256: " + sum1 + "\n    role: admin\n    pipelines: [\"*\"]\n"))
	f.Add([]byte("keys: {a: {sha256: x}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Parse("k", data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if len(e.SHA256) != 64 || e.Role == "" {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}
