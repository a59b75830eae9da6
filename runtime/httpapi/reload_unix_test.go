// SPDX-License-Identifier: Apache-2.0

//go:build unix

package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// SIGHUP makes a serving server read the environment again.
func TestReloadOnSIGHUP(t *testing.T) {
	// Hold SIGHUP for the whole test, so that a signal sent before Serve
	// listens for it cannot end the test process.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	const rotated = "sk_admin_rotated_0123456789abcdefghijklmnop"
	env := newLockedEnv(testEnv)
	f := newFixture(t, setup{noWrap: true, opts: []httpapi.Option{httpapi.WithGetenv(env.get)}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, l, "", "") }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + l.Addr().String()
	status := func(k string) int {
		r, _ := http.NewRequest("GET", base+"/pipelines", nil)
		r.Header.Set("X-API-Key", k)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hup := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the server answers", func() bool { return status(adminKey) == http.StatusOK })

	env.set("TASKWIRE_KEY_ADMIN_FULL", rotated)
	if got := status(rotated); got != http.StatusUnauthorized {
		t.Fatalf("the rotated key before SIGHUP: %d", got)
	}
	eventually(t, "SIGHUP puts the rotated key in use", func() bool {
		hup()
		time.Sleep(5 * time.Millisecond)
		return status(rotated) == http.StatusOK
	})
	if got := status(adminKey); got != http.StatusUnauthorized {
		t.Fatalf("the replaced key after SIGHUP: %d", got)
	}

	// A variable set to a bad key is refused as a whole on SIGHUP.
	before := f.srv.ReloadStats().Failures
	env.set("TASKWIRE_KEY_VIEWER_REPORTS", "too-short")
	eventually(t, "SIGHUP refuses the bad set", func() bool {
		hup()
		time.Sleep(5 * time.Millisecond)
		return f.srv.ReloadStats().Failures > before
	})
	if got := status(rotated); got != http.StatusOK {
		t.Fatalf("the key in use after a refused reload: %d", got)
	}
	if got := status(viewerKey); got != http.StatusOK {
		t.Fatalf("the viewer's old key, kept: %d", got)
	}
	if got := status("too-short"); got != http.StatusUnauthorized {
		t.Fatalf("the refused key: %d", got)
	}
}
