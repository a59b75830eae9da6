// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testRoutes is the route table of a server with one pipeline, demo.
var testRoutes = Routes{
	ListPipelines: Route{Method: http.MethodGet, Path: "/pipelines", OperationID: "list_pipelines"},
	GetRun:        Route{Method: http.MethodGet, Path: "/runs/{run_id}", OperationID: "get_run"},
	CancelRun:     Route{Method: http.MethodPost, Path: "/runs/{run_id}/cancel", OperationID: "cancel_run"},
	RunEvents:     Route{Method: http.MethodGet, Path: "/runs/{run_id}/events", OperationID: "run_events"},
}

var executeDemo = Route{Method: http.MethodPost, Path: "/pipelines/demo/execute", OperationID: "execute_demo"}

// recorded is one request a fake server received.
type recorded struct {
	method, uri, body string
	header            http.Header
}

// fake is a test server answering with handler and recording every request.
type fake struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

func newFake(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{method: r.Method, uri: r.URL.RequestURI(), body: string(body), header: r.Header.Clone()})
		n := len(f.reqs)
		f.mu.Unlock()
		handler(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// newClient returns a client of f whose waits are recorded instead of slept.
func newClient(t *testing.T, f *fake, opts ...Option) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(f.srv.URL, testRoutes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	waits := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return c, waits
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":%q,"request_id":"req1"}`, http.StatusText(status), status, detail)
}

func jsonAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestErrorFromProblem(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"the request body does not match","request_id":"r9","errors":[{"path":"data","message":"required"},{"path":"n","message":"must be at least 1"}]}`)
	})
	c, _ := newClient(t, f)
	_, err := c.Start(context.Background(), executeDemo, map[string]any{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *Error", err)
	}
	want := Error{Status: 422, Title: "Unprocessable Entity", Detail: "the request body does not match", Type: "about:blank", RequestID: "r9", OperationID: "execute_demo",
		Errors: []FieldError{{Path: "data", Message: "required"}, {Path: "n", Message: "must be at least 1"}}}
	if e.Status != want.Status || e.Title != want.Title || e.Detail != want.Detail || e.Type != want.Type || e.RequestID != want.RequestID || e.OperationID != want.OperationID || !slices.Equal(e.Errors, want.Errors) {
		t.Errorf("error = %+v, want %+v", *e, want)
	}
	if got := e.Error(); got != "taskwire: execute_demo: 422 Unprocessable Entity: the request body does not match (data: required; n: must be at least 1)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrorWithoutProblemBody(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, "upstream down\nmore", http.StatusBadGateway)
	})
	c, _ := newClient(t, f)
	_, err := c.ListPipelines(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != 502 || e.Title != "Bad Gateway" || e.Detail != "upstream down" {
		t.Fatalf("err = %#v", err)
	}
}

// 429 and 503 with Retry-After are retried after the delay for requests
// safe to repeat (GETs, execute with an idempotency key), at most
// MaxRetries times; a plain execute and other statuses are sent once.
func TestRetries(t *testing.T) {
	const fails = 2
	limited := func(status int, retryAfter string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if n <= fails {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				problem(w, status, "slow down")
				return
			}
			if r.Method == http.MethodPost {
				jsonAnswer(w, http.StatusAccepted, `{"run_id":"R1","status":"pending"}`)
				return
			}
			jsonAnswer(w, http.StatusOK, `{"pipelines":["demo"]}`)
		}
	}
	type call func(c *Client) error
	list := func(c *Client) error { _, err := c.ListPipelines(context.Background()); return err }
	start := func(opts ...StartOption) call {
		return func(c *Client) error {
			_, err := c.Start(context.Background(), executeDemo, map[string]string{"data": "x"}, opts...)
			return err
		}
	}
	cases := []struct {
		name       string
		status     int
		retryAfter string
		call       call
		opts       []Option
		wantReqs   int
		wantWaits  []time.Duration
		wantStatus int // 0: success
	}{
		{"GET after 429", 429, "2", list, nil, 3, []time.Duration{2 * time.Second, 2 * time.Second}, 0},
		{"GET after 503", 503, "1", list, nil, 3, []time.Duration{time.Second, time.Second}, 0},
		{"execute with an idempotency key", 429, "3", start(WithIdempotencyKey("k1")), nil, 3, []time.Duration{3 * time.Second, 3 * time.Second}, 0},
		{"plain execute", 429, "3", start(), nil, 1, nil, 429},
		{"503 without Retry-After", 503, "", list, nil, 1, nil, 503},
		{"other status", 500, "1", list, nil, 1, nil, 500},
		{"Retry-After beyond the longest wait", 429, "120", list, nil, 1, nil, 429},
		{"bounded", 429, "1", list, []Option{WithMaxRetries(1)}, 2, []time.Duration{time.Second}, 429},
		{"retries off", 429, "1", list, []Option{WithMaxRetries(0)}, 1, nil, 429},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, limited(tc.status, tc.retryAfter))
			c, waits := newClient(t, f, tc.opts...)
			err := tc.call(c)
			var e *Error
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.wantStatus != 0 && (!errors.As(err, &e) || e.Status != tc.wantStatus):
				t.Fatalf("err = %v, want a *Error %d", err, tc.wantStatus)
			}
			reqs := f.requests()
			if len(reqs) != tc.wantReqs || !slices.Equal(*waits, tc.wantWaits) {
				t.Fatalf("%d requests, waits %v; want %d, %v", len(reqs), *waits, tc.wantReqs, tc.wantWaits)
			}
			for _, r := range reqs[1:] {
				if r.body != reqs[0].body || r.header.Get("Idempotency-Key") != reqs[0].header.Get("Idempotency-Key") {
					t.Errorf("a retry sent %q %q, the first request %q %q", r.body, r.header.Get("Idempotency-Key"), reqs[0].body, reqs[0].header.Get("Idempotency-Key"))
				}
			}
			if want, _ := time.ParseDuration(tc.retryAfter + "s"); e != nil && tc.retryAfter != "" && e.RetryAfter != want {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, want)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	if d, ok := retryAfter(h, now); !ok || d != 90*time.Second {
		t.Errorf("retryAfter(date) = %s, %v", d, ok)
	}
	h.Set("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat))
	if d, ok := retryAfter(h, now); !ok || d != 0 {
		t.Errorf("retryAfter(past date) = %s, %v", d, ok)
	}
	for _, bad := range []string{"soon", "-1", "1.5"} {
		if _, ok := retryAfter(http.Header{"Retry-After": {bad}}, now); ok {
			t.Errorf("retryAfter(%q) accepted", bad)
		}
	}
}

// A cancelled ctx ends the wait for a retry.
func TestRetryWaitCancelled(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "1")
		problem(w, 429, "slow down")
	})
	c, err := New(f.srv.URL, testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListPipelines(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCredentials(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { jsonAnswer(w, 200, `{"pipelines":[]}`) })
	for _, tc := range []struct {
		opts         []Option
		header, want string
	}{
		{[]Option{WithAPIKey("k1")}, "X-API-Key", "k1"},
		{[]Option{WithAPIKeyHeader("X-Service-Key"), WithAPIKey("k2")}, "X-Service-Key", "k2"},
		{[]Option{WithBearerToken("t1")}, "Authorization", "Bearer t1"},
	} {
		c, _ := newClient(t, f, tc.opts...)
		ids, err := c.ListPipelines(context.Background())
		if err != nil || ids == nil || len(ids) != 0 {
			t.Fatalf("ListPipelines = %v, %v", ids, err)
		}
		reqs := f.requests()
		if got := reqs[len(reqs)-1].header.Get(tc.header); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.header, got, tc.want)
		}
	}
	if _, err := New(f.srv.URL, testRoutes, WithAPIKey("k"), WithBearerToken("t")); err == nil {
		t.Error("New accepts an API key and a bearer token at once")
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://host", "http://", "http://host/?x=1", "http://host/#f", "http://h%zz"} {
		if _, err := New(u, testRoutes); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// Paths join the base URL's prefix, and parameters are escaped.
func TestURLs(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		jsonAnswer(w, 200, `{"run_id":"a/b c","status":"running","tasks":{"t":{"status":"running","attempts":2,"error":"x"}},"outputs":{},"error":null,"started_at":null}`)
	})
	c, err := New(f.srv.URL+"/api/", testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.GetRun(context.Background(), "a/b c")
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != "a/b c" || run.Status != RunRunning || run.Tasks["t"].Attempts != 2 || run.Tasks["t"].Status != RunRunning || !run.StartedAt.IsZero() || run.Error != "" {
		t.Errorf("run = %+v", run)
	}
	if err := c.CancelRun(context.Background(), "R1"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if reqs[0].uri != "/api/runs/a%2Fb%20c" || reqs[1].uri != "/api/runs/R1/cancel" || reqs[1].method != http.MethodPost {
		t.Errorf("requests %s %s, %s %s", reqs[0].method, reqs[0].uri, reqs[1].method, reqs[1].uri)
	}
	if _, err := c.GetRun(context.Background(), ""); err == nil || len(f.requests()) != 2 {
		t.Error("GetRun of an empty id sent a request")
	}
}

// sse writes a Server-Sent Events stream.
func sse(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, c := range chunks {
		io.WriteString(w, c)
		w.(http.Flusher).Flush()
	}
}

const snapshotRunning = "event: snapshot\ndata: {\"run_id\":\"R1\",\"pipeline_id\":\"demo\",\"status\":\"running\",\"tasks\":{},\"outputs\":{},\"error\":null}\n\n"

func TestEvents(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sse(w,
			": stream of run R1\n\n",
			snapshotRunning,
			"event: task_started\ndata: {\"type\":\"task_started\",\"run_id\":\"R1\",\"pipeline_id\":\"demo\",\"task\":\"a\",\"index\":-1,\"attempt\":1,\"time\":\"2026-12-01T10:00:00Z\"}\n\n",
			": heartbeat\n\n",
			"event: task_retrying\ndata: {\"type\":\"task_retrying\",\"run_id\":\"R1\",\n",
			"data: \"task\":\"a\",\"index\":2,\"attempt\":1,\"error\":\"boom\",\"retry_in\":200000000}\n\n",
			"event: run_succeeded\ndata: {\"type\":\"run_succeeded\",\"run_id\":\"R1\",\"index\":-1}\n\n",
			"event: never\ndata: {}\n\n",
		)
	})
	c, _ := newClient(t, f)
	var got []Event
	for ev, err := range c.Events(context.Background(), "R1") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(got), got)
	}
	if got[0].Type != EventSnapshot || got[0].Run == nil || got[0].Run.Status != RunRunning || got[0].RunID != "R1" || got[0].Finished() {
		t.Errorf("snapshot = %+v", got[0])
	}
	if got[1].Type != EventTaskStarted || got[1].Task != "a" || got[1].Attempt != 1 || got[1].Index != -1 || !got[1].Time.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("task_started = %+v", got[1])
	}
	if got[2].Type != EventTaskRetrying || got[2].Index != 2 || got[2].Error != "boom" || got[2].RetryIn != 200*time.Millisecond {
		t.Errorf("task_retrying (two data lines) = %+v", got[2])
	}
	if got[3].Type != EventRunSucceeded || !got[3].Finished() {
		t.Errorf("last = %+v", got[3])
	}
	if r := f.requests()[0]; r.uri != "/runs/R1/events" || !strings.HasPrefix(r.header.Get("Accept"), "text/event-stream") {
		t.Errorf("request %s Accept %q", r.uri, r.header.Get("Accept"))
	}
}

func TestEventsFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { problem(w, 404, "no such run") })
		c, _ := newClient(t, f)
		n := 0
		for ev, err := range c.Events(context.Background(), "R1") {
			n++
			var e *Error
			if !errors.As(err, &e) || e.Status != 404 || ev.Type != "" {
				t.Errorf("pair %d = %+v, %v; want a 404 *Error", n, ev, err)
			}
		}
		if n != 1 {
			t.Errorf("%d pairs, want 1", n)
		}
	})
	t.Run("ended early", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { sse(w, snapshotRunning) })
		c, _ := newClient(t, f)
		var errs []error
		for _, err := range c.Events(context.Background(), "R1") {
			errs = append(errs, err)
		}
		if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], ErrStreamEnded) {
			t.Errorf("errors %v, want nil then ErrStreamEnded", errs)
		}
	})
	t.Run("bad data", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			sse(w, "event: task_started\ndata: {not json\n\n")
		})
		c, _ := newClient(t, f)
		for _, err := range c.Events(context.Background(), "R1") {
			if err == nil || !strings.Contains(err.Error(), "decoding a task_started event") {
				t.Errorf("err = %v", err)
			}
		}
	})
	t.Run("consumer stops", func(t *testing.T) {
		block := make(chan struct{})
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			sse(w, snapshotRunning)
			select { // until the client goes away
			case <-r.Context().Done():
			case <-block:
			}
		})
		defer close(block)
		c, _ := newClient(t, f)
		n := 0
		for range c.Events(context.Background(), "R1") {
			n++
			break
		}
		if n != 1 {
			t.Errorf("%d events before break", n)
		}
	})
}

// FuzzReadStream: no stream makes the reader panic or report an event
// with a name it did not read.
func FuzzReadStream(f *testing.F) {
	f.Add([]byte(snapshotRunning + ": c\n\nevent: x\ndata: 1\ndata: 2\n\n"))
	f.Add([]byte("data\n\nevent\n:\n\nid: 3\nretry: 10\ndata: a\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readStream(strings.NewReader(string(b)), func(name string, data []byte) bool {
			if name == "" {
				t.Fatal("an event without a name")
			}
			return true
		})
	})
}
