// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestFlags(t *testing.T) {
	env := map[string]string{EnvRole: "worker", EnvBroker: "nats://u:secret@127.0.0.1:4222"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		args    []string
		role    Role
		broker  string
		wantErr bool
	}{
		{nil, RoleWorker, env[EnvBroker], false},
		{[]string{"-role", "api"}, RoleAPI, env[EnvBroker], false},
		{[]string{"-role", "all", "-broker", ""}, RoleAll, "", false},
		{[]string{"-role", "api", "-broker", ""}, RoleAPI, "", true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		d := Flags(fs, "svc", getenv)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if d.Role != c.role || d.Broker != c.broker || (d.Validate() != nil) != c.wantErr {
			t.Fatalf("%v: %+v %v", c.args, d, d.Validate())
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	Flags(fs, "svc", func(string) string { return "" })
	if err := fs.Parse([]string{"-role", "boss"}); err == nil {
		t.Fatal("bad role accepted")
	}
	if got := (&Config{Broker: env[EnvBroker]}).Where(); strings.Contains(got, "secret") {
		t.Fatalf("redact: %s", got)
	}
}

func TestPrefix(t *testing.T) {
	for in, want := range map[string]string{"securedemo": "SECUREDEMO", "my.svc": "MY_SVC", "a-b_c": "A-B_C", "": "TASKWIRE"} {
		if got := Prefix(in); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", in, got, want)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Flags(fs, "svc", func(k string) string { return map[string]string{EnvAckWait: "3s"}[k] })
	if err := fs.Parse([]string{"-nats-prefix", "OTHER"}); err != nil {
		t.Fatal(err)
	}
	if c.NATS.Prefix != "OTHER" || c.NATS.AckWait != 3*time.Second || c.Service != "svc" {
		t.Fatalf("%+v", c)
	}
}

// -workers (or TASKWIRE_WORKERS) sets the task executions a process runs
// at once; a value that is not a positive number is refused.
func TestWorkersFlag(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want int
	}{
		{"", nil, 0},
		{"24", nil, 24},
		{"24", []string{"-workers", "64"}, 64},
		{"zero", nil, 0},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		c := Flags(fs, "svc", func(k string) string { return map[string]string{EnvWorkers: tc.env}[k] })
		if err := fs.Parse(tc.args); err != nil || c.Workers != tc.want {
			t.Fatalf("env %q args %v: workers %d, %v", tc.env, tc.args, c.Workers, err)
		}
		if n := len(c.EngineOptions()); (n == 1) != (tc.want > 0) {
			t.Fatalf("env %q args %v: %d engine options", tc.env, tc.args, n)
		}
	}
	for _, bad := range []string{"0", "-3", "many"} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		Flags(fs, "svc", func(string) string { return "" })
		if err := fs.Parse([]string{"-workers", bad}); err == nil || !strings.Contains(err.Error(), "workers must be a whole number") {
			t.Fatalf("-workers %s: %v", bad, err)
		}
	}
}

func TestReplicasFlag(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want int
		bad  bool
	}{
		{"", nil, 0, false}, // natsjs's default, 1
		{"3", nil, 3, false},
		{"3", []string{"-nats-replicas", "1"}, 1, false},
		{"", []string{"-nats-replicas", "0"}, 0, true},
		{"", []string{"-nats-replicas", "7"}, 0, true},
		{"three", nil, 0, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		d := Flags(fs, "svc", func(k string) string {
			if k == EnvReplicas {
				return c.env
			}
			return ""
		})
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := d.Validate()
		if (err != nil) != c.bad || (!c.bad && d.NATS.Replicas != c.want) {
			t.Errorf("env %q args %v: replicas %d, %v", c.env, c.args, d.NATS.Replicas, err)
		}
		if err != nil && !strings.Contains(err.Error(), EnvReplicas) {
			t.Errorf("the error does not name %s: %v", EnvReplicas, err)
		}
	}
}
