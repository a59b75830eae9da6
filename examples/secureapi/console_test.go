// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/taskwire/taskwire/internal/testutil"
	"github.com/taskwire/taskwire/runtime/audit"
)

// chromiumNames are the names Chromium's binary has on the systems CI and
// developers use.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns Chromium's path. Without it the test skips, except
// in CI (CI set), where .ci/run installs it, and when screenshots are asked
// for: there a missing browser is a failure, not a silently skipped test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but Chromium is not installed (looked for %s); .ci/run installs it with apt-get install chromium", strings.Join(chromiumNames, ", "))
	}
	if os.Getenv("TASKWIRE_SCREENSHOTS") != "" {
		t.Fatalf("screenshots need Chromium, which is not installed (looked for %s); install it with apt-get install chromium", strings.Join(chromiumNames, ", "))
	}
	t.Skipf("Chromium is not installed (looked for %s): the console's browser test needs it; install it with apt-get install chromium", strings.Join(chromiumNames, ", "))
	return ""
}

// browserLog collects what the page must not do: requests to another
// origin, uncaught exceptions, console errors and browser errors other
// than the network's (a 401 or 403 the test provokes is logged as a
// failed resource load).
type browserLog struct {
	mu       sync.Mutex
	origin   string
	requests []string
	problems []string
	network  []string
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += ": " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeAssert || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		switch {
		case e.Source == cdplog.EntrySourceNetwork:
			b.network = append(b.network, e.Text+" "+e.URL)
		case e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning:
			b.problems = append(b.problems, fmt.Sprintf("browser %s (%s): %s %s", e.Level, e.Source, e.Text, e.URL))
		}
	}
}

// check fails the test for every foreign request and every problem.
func (b *browserLog) check(t *testing.T, secrets ...string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Error("no request was seen: the network events are not listened to")
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, b.origin+"/") {
			t.Errorf("request to another origin: %s", u)
		}
		for _, s := range secrets {
			if strings.Contains(u, s) {
				t.Errorf("a credential is in a URL: %s", u)
			}
		}
	}
	for _, p := range b.problems {
		t.Errorf("page problem: %s", p)
	}
}

// byName selects the elements whose accessible role and name are role and
// name, as assistive technology sees them (Chromium's accessibility tree),
// leaving out ignored (hidden) ones. Selecting by it checks the names the
// contract fixes while the test uses them.
func byName(role, name string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: n.NodeID, AccessibleName: name, Role: role})
		if err != nil {
			return nil, err
		}
		var backend []cdp.BackendNodeID
		for _, ax := range res.Nodes {
			if !ax.Ignored && ax.BackendDOMNodeID != 0 {
				backend = append(backend, ax.BackendDOMNodeID)
			}
		}
		if len(backend) == 0 {
			return nil, nil
		}
		ids, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: backend})
		return ids.NodeIDs, err
	})
}

// TestConsole drives the console of the real demo binary in headless
// Chromium: a browser sent from /docs to the sign-in, a wrong key, the
// admin's sign-in, the API reference and its Try it, the pipeline's graph,
// a run executed and watched until it succeeds with its output, the runs
// list and its filter, sign-out, and a viewer who sees no pipeline it may
// not read. No request may leave the server's origin, no credential may
// appear in a URL, cookie or localStorage, and the page may throw nothing.
// With TASKWIRE_SCREENSHOTS set to a folder it saves the main views there
// (make screenshots).
func TestConsole(t *testing.T) {
	browser := findChromium(t)
	started := time.Now()
	// Each task takes a second, so that the run can be watched live.
	base, work, stop := startConsoleDemo(t, "-task-delay", "1s")

	shots := os.Getenv("TASKWIRE_SCREENSHOTS")
	log := &browserLog{origin: base}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 860),
	)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithListener(log.listen))
	defer cancelCtx()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 900)); err != nil { // starts the browser, without a deadline
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + (document.body ? document.body.innerText : '')`))
			log.mu.Lock()
			problems := strings.Join(append(log.problems, log.network...), "\n")
			log.mu.Unlock()
			t.Fatalf("%s: %v\npage:\n%s\nbrowser log:\n%s", what, err, page, problems)
		}
	}
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, page)
		}
	}
	// shot saves the page, or with scroll (a script that scrolls) the
	// window's view of it.
	shot := func(name string, scroll ...string) {
		t.Helper()
		if shots == "" {
			return
		}
		capture := chromedp.FullScreenshot(100) // 100: PNG
		if len(scroll) > 0 {
			step("scroll", chromedp.Evaluate[chromedp.Void](scroll[0]))
			capture = chromedp.CaptureScreenshot()
		}
		png, err := chromedp.Run(ctx, capture)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "console-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apiKeyField := chromedp.WaitVisible("", byName("textbox", "API key"))

	// A browser opening /docs without a key is led to the console's API
	// reference, which asks it to sign in first.
	step("open /docs", chromedp.Navigate(base+"/docs"), apiKeyField)
	if got := eval("location", `location.pathname + location.hash`); got != "/ui/#/docs" {
		t.Errorf("/docs led to %s, want /ui/#/docs", got)
	}
	if typ := eval("field type", `document.getElementById('api-key').type`); typ != "password" {
		t.Errorf("the API key field is of type %q", typ)
	}
	shot("signin")

	// A wrong key: the sign-in again, with the server's message.
	step("wrong key",
		chromedp.SendKeys("", "sk_wrong_0123456789abcdefghijklmnopqrstuvwx", byName("textbox", "API key")),
		chromedp.Click("", byName("button", "Sign in")))
	waitFor("the error of a wrong key", `(document.getElementById('signin-message') || {}).textContent.includes('invalid API key')`)
	step("sign-in still shown", apiKeyField)
	if n := eval("storage", `String(sessionStorage.length)`); n != "0" {
		t.Errorf("a wrong key was kept: sessionStorage has %s items", n)
	}

	// The admin's key: the API reference it was led to.
	step("admin signs in",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('api-key').value = ''`), // what the user typed
		chromedp.SendKeys("", adminKey, byName("textbox", "API key")),
		chromedp.Click("", byName("button", "Sign in")),
		chromedp.WaitVisible(chromedp.CSS("#op-list_pipelines")))
	if first := eval("first operation", `document.querySelector('details.op').id`); first != "op-execute_secure_demo_pipeline" {
		t.Errorf("the first operation of the reference is %s, want the pipeline's execute", first)
	}
	step("try list_pipelines",
		chromedp.Click(chromedp.CSS("#op-list_pipelines > summary")),
		chromedp.Click(chromedp.CSS("#op-list_pipelines form button[type=submit]")))
	waitFor("Try it's response", `(document.querySelector('#op-list_pipelines .try-result') || {}).textContent.includes('200 OK')`)
	if body := eval("Try it body", `document.querySelector('#op-list_pipelines .try-result').textContent`); !strings.Contains(body, `"secure_demo_pipeline"`) || !strings.Contains(strings.ToLower(body), "x-request-id") {
		t.Errorf("Try it shows no status, headers and body:\n%s", body)
	}
	step("open execute", chromedp.Click(chromedp.CSS("#op-execute_secure_demo_pipeline > summary")),
		chromedp.WaitVisible(chromedp.CSS("#op-execute_secure_demo_pipeline textarea")))
	if body := eval("execute body", `document.querySelector('#op-execute_secure_demo_pipeline textarea').value`); !strings.Contains(body, `"data"`) {
		t.Errorf("the execute operation's Try it has no example body: %q", body)
	}
	shot("docs", `window.scrollTo(0, 0)`)

	// The pipelines: one link, its text the pipeline id.
	step("pipelines",
		chromedp.Click("", byName("link", "Pipelines")),
		chromedp.Click("", byName("link", "secure_demo_pipeline")),
		chromedp.WaitVisible(chromedp.CSS(`svg [data-task="validate_result"]`)))
	if n := eval("task nodes", `String(document.querySelectorAll('svg [data-task]').length)`); n != "2" {
		t.Errorf("the graph has %s task nodes, want 2", n)
	}
	step("inputs", chromedp.SendKeys("", "hello", byName("textbox", "data")))
	shot("pipeline")

	// Execute, and watch the run live until it succeeds with its output:
	// first running, with Cancel offered (the admin holds write).
	step("execute", chromedp.Click("", byName("button", "Execute")))
	waitFor("the running run", `(document.getElementById('run-status-line') || {dataset: {}}).dataset.status === 'running' &&
		document.querySelector('svg [data-task="process_data"]').dataset.status === 'running'`)
	step("Cancel while it runs", chromedp.WaitVisible("", byName("button", "Cancel")))
	waitFor("the run's success", `(document.getElementById('run-status-line') || {dataset: {}}).dataset.status === 'succeeded'`)
	if status := eval("status text", `document.getElementById('run-status-line').textContent`); !strings.Contains(status, "succeeded") {
		t.Errorf("the status line reads %q", status)
	}
	var outputs map[string]map[string]any
	if err := json.Unmarshal([]byte(eval("outputs", `document.getElementById('run-outputs').textContent`)), &outputs); err != nil {
		t.Fatalf("the outputs are not JSON: %v", err)
	}
	if v := outputs["validated"]; v["processed"] != "HELLO" || v["validated"] != true {
		t.Errorf("outputs %v", outputs)
	}
	if states := eval("node states", `[...document.querySelectorAll('svg [data-task]')].map(n => n.dataset.task + '=' + n.dataset.status).join(' ')`); states != "process_data=succeeded validate_result=succeeded" {
		t.Errorf("graph nodes: %s", states)
	}
	if rows := eval("task rows", `String(document.querySelectorAll('[data-task-row] .status-succeeded').length)`); rows != "2" {
		t.Errorf("%s tasks shown succeeded, want 2", rows)
	}
	if bars := eval("timeline", `String(document.querySelectorAll('.timeline rect.bar-succeeded').length)`); bars != "2" {
		t.Errorf("%s timeline bars, want 2", bars)
	}
	if hasCancel := eval("cancel", `String(!!document.querySelector('button.danger'))`); hasCancel != "false" {
		t.Error("a finished run offers Cancel")
	}
	shot("run")

	// Another run, cancelled while it runs.
	step("second run",
		chromedp.Click("", byName("link", "secure_demo_pipeline")),
		chromedp.SendKeys("", "again", byName("textbox", "data")),
		chromedp.Click("", byName("button", "Execute")),
		chromedp.Click("", byName("button", "Cancel")))
	waitFor("the cancelled run", `(document.getElementById('run-status-line') || {dataset: {}}).dataset.status === 'cancelled' &&
		!document.querySelector('button.danger') &&
		document.querySelector('svg [data-task="validate_result"]').dataset.status === 'cancelled'`)

	// The cancelled run re-run: a new run with its inputs, linked to it,
	// that succeeds (the admin holds execute).
	cancelled := eval("cancelled run", `location.hash.replace('#/runs/', '')`)
	step("re-run", chromedp.Click("", byName("button", "Re-run")))
	waitFor("the re-run", `location.hash !== '#/runs/`+cancelled+`' && (document.getElementById('rerun-of') || {}).textContent === '`+cancelled+`' &&
		(document.getElementById('run-status-line') || {dataset: {}}).dataset.status === 'succeeded'`)

	// No task failed for good here: the dead letters are none.
	step("dead letters", chromedp.Click("", byName("link", "Dead letters")))
	waitFor("no dead letters", `document.getElementById('main').dataset.rendered === '#/dead-letters' && document.querySelector('main').textContent.includes('No dead letters.')`)

	// The runs list, filtered by status.
	step("runs", chromedp.Click("", byName("link", "Runs")), chromedp.WaitVisible(chromedp.CSS("#filter-status")))
	step("filter succeeded", chromedp.SetValue(chromedp.CSS("#filter-status"), "succeeded"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('filter-status').dispatchEvent(new Event('change'))`))
	waitFor("the filtered list", `document.getElementById('main').dataset.rendered === '#/runs?status=succeeded' && document.querySelectorAll('tbody .status-succeeded').length >= 1`)
	shot("runs")
	step("filter failed", chromedp.SetValue(chromedp.CSS("#filter-status"), "failed"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('filter-status').dispatchEvent(new Event('change'))`))
	waitFor("no failed runs", `document.getElementById('main').dataset.rendered === '#/runs?status=failed' && document.querySelector('main').textContent.includes('No runs.')`)

	// Sign out: the credential is forgotten; it was never anywhere else.
	step("sign out", chromedp.Click("", byName("button", "Sign out")), apiKeyField)
	if left := eval("storage", `sessionStorage.length + ' ' + localStorage.length + ' ' + JSON.stringify(document.cookie)`); left != `0 0 ""` {
		t.Errorf("after sign-out: sessionStorage, localStorage, cookie = %s", left)
	}

	// The viewer may read report_* pipelines only: none here. The sign-in
	// has the focus, and Enter submits it: no mouse needed.
	if focused := eval("focus", `document.activeElement.id`); focused != "api-key" {
		t.Errorf("after sign-out the focus is on %q, not the API key field", focused)
	}
	step("viewer signs in", chromedp.SendKeys("", viewerKey+"\n", byName("textbox", "API key")))
	waitFor("the viewer's view", `document.getElementById('main').dataset.rendered === '#/runs?status=failed'`)
	if focused := eval("focus", `document.activeElement.tagName + ' ' + document.activeElement.textContent`); focused != "H1 Runs" {
		t.Errorf("after a view is shown the focus is on %q, not its heading", focused)
	}
	step("viewer's pipelines", chromedp.Click("", byName("link", "Pipelines")))
	waitFor("the viewer's empty list", `document.querySelector('main').textContent.includes('may read no pipeline')`)
	if n := eval("links", `String([...document.querySelectorAll('a')].filter(a => a.textContent === 'secure_demo_pipeline').length)`); n != "0" {
		t.Errorf("the viewer sees %s links to secure_demo_pipeline", n)
	}
	step("viewer opens the pipeline", chromedp.Evaluate[chromedp.Void](`location.hash = '#/pipelines/secure_demo_pipeline'`))
	waitFor("the refusal", `document.querySelector('main').textContent.includes('not allowed to read pipeline secure_demo_pipeline')`)
	if n := eval("nodes", `String(document.querySelectorAll('svg [data-task]').length)`); n != "0" {
		t.Errorf("the viewer sees %s task nodes", n)
	}
	step("viewer signs out", chromedp.Click("", byName("button", "Sign out")), apiKeyField)

	log.check(t, adminKey, viewerKey)
	cancelTimeout()
	cancelCtx()
	cancelAlloc()
	t.Logf("browser test took %s", time.Since(started).Round(time.Millisecond))

	// The audit log recorded the console like every route: anonymous page
	// loads, the redirect from /docs, and the API calls under their keys.
	recs := stop()
	has := func(what string, match func(audit.Record) bool) {
		t.Helper()
		for _, r := range recs {
			if match(r) {
				return
			}
		}
		t.Errorf("no audit record of %s", what)
	}
	// Requests without credentials are recorded in full once per address
	// and window, and counted in the address's summary after that.
	counted := func(r audit.Record, route string) bool {
		if r.Type != audit.TypeAnonymousSummary {
			return false
		}
		byRoute, _ := r.Details["by_route"].(map[string]any)
		_, ok := byRoute[route]
		return ok
	}
	has("the console's page", func(r audit.Record) bool {
		return (r.Route == "console" && r.Status == 200 && r.Principal == "") || counted(r, "console")
	})
	has("the console's script", func(r audit.Record) bool {
		return (r.Route == "console_file" && r.Path == "/ui/console.js" && r.Status == 200) || counted(r, "console_file")
	})
	has("the redirect from /docs", func(r audit.Record) bool {
		return (r.Route == "docs" && r.Status == 303 && r.Principal == "") || counted(r, "docs")
	})
	has("the wrong key", func(r audit.Record) bool { return r.Route == "list_pipelines" && r.Status == 401 })
	has("the admin's run", func(r audit.Record) bool {
		return r.Route == "execute_secure_demo_pipeline" && r.Principal == "admin_full" && r.Status == 202
	})
	has("the run's event stream", func(r audit.Record) bool {
		return r.Route == "run_events" && r.Principal == "admin_full" && r.Status == 200
	})
	has("the cancel", func(r audit.Record) bool {
		return r.Route == "cancel_run" && r.Principal == "admin_full" && r.Status == 200
	})
	has("the re-run", func(r audit.Record) bool {
		return r.Route == "rerun_run" && r.Principal == "admin_full" && r.Status == 202
	})
	has("the dead letters' listing", func(r audit.Record) bool {
		return r.Route == "list_dead_letters" && r.Principal == "admin_full" && r.Status == 200
	})
	has("the viewer's refusal", func(r audit.Record) bool {
		return r.Route == "get_pipeline" && r.Principal == "viewer_reports" && r.Status == 403
	})
	data, err := os.ReadFile(filepath.Join(work, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(adminKey)) || bytes.Contains(data, []byte(viewerKey)) {
		t.Error("a key is in the audit log")
	}
}

// startDemo builds the demo, runs it on a free loopback port with the test
// keys in its environment and the extra flags args, and returns its base
// URL, its working folder,
// and a func that stops it (SIGTERM) and returns its audit records.
func startConsoleDemo(t *testing.T, args ...string) (base, work string, stop func() []audit.Record) {
	t.Helper()
	bin := buildDemo(t)
	work = t.TempDir()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TASKWIRE_KEY_ADMIN_FULL="+adminKey, "TASKWIRE_KEY_VIEWER_REPORTS="+viewerKey)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	var recs []audit.Record
	stop = func() []audit.Record {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("the demo exited with %v\n%s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("the demo did not stop within 10s of SIGTERM")
			}
			data, err := os.ReadFile(filepath.Join(work, "audit.jsonl"))
			if err != nil {
				t.Errorf("audit log: %v", err)
				return
			}
			for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
				var rec audit.Record
				if err := json.Unmarshal(line, &rec); err != nil {
					t.Errorf("audit line is not JSON: %s", line)
					continue
				}
				recs = append(recs, rec)
			}
		})
		return recs
	}
	t.Cleanup(func() { stop() })

	banner := readBanner(t, stdout, &stderr)
	m := regexp.MustCompile(`Console at: (http://127\.0\.0\.1:[0-9]+)/ui/`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner names no console URL:\n%s", banner)
	}
	waitHealthy(t, m[1])
	return m[1], work, stop
}
