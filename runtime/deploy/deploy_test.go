// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"flag"
	"strings"
	"testing"
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
		d := Flags(fs, getenv)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if d.Role != c.role || d.Broker != c.broker || (d.Validate() != nil) != c.wantErr {
			t.Fatalf("%v: %+v %v", c.args, d, d.Validate())
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	Flags(fs, func(string) string { return "" })
	if err := fs.Parse([]string{"-role", "boss"}); err == nil {
		t.Fatal("bad role accepted")
	}
	if got := (&Config{Broker: env[EnvBroker]}).Where(); strings.Contains(got, "secret") {
		t.Fatalf("redact: %s", got)
	}
}
