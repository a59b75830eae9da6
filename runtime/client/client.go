// SPDX-License-Identifier: Apache-2.0

// Package client is the runtime of the Go clients that taskwire generates:
// the HTTP transport to a generated server (credentials, RFC 9457 problem
// errors, retries of requests that are safe to repeat), the runs and events
// of its API, and the Server-Sent Events reader that follows a run. It
// imports only the standard library.
//
// Generated code (package client in the output's client/ directory) wraps
// it with one typed method per pipeline; users normally need only the
// generated package, which re-exports the names of this one they use:
//
//	c, err := client.New("http://127.0.0.1:8000", client.WithAPIKey(key))
//	out, err := c.RunSecureDemoPipeline(ctx, client.SecureDemoPipelineInput{Data: "hello"})
//
// Every method that answers an HTTP error returns a *Error. A response 429
// (rate limited) or 503 (shutting down, overloaded) with a Retry-After header
// is retried after that delay, at most WithMaxRetries times and only when
// the delay is at most WithMaxRetryWait, for requests that are safe to
// repeat: GETs, and the start of a run with an idempotency key
// (WithIdempotencyKey). Any other request is sent once.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the retry policy.
const (
	// DefaultMaxRetries is how many times a request safe to repeat is
	// retried after a 429 or 503 with Retry-After.
	DefaultMaxRetries = 3
	// DefaultMaxRetryWait is the longest Retry-After that is waited for; a
	// longer one returns the error at once.
	DefaultMaxRetryWait = time.Minute
)

// DefaultAPIKeyHeader is the header an API key is sent in unless
// WithAPIKeyHeader names another (generated clients name the spec's).
const DefaultAPIKeyHeader = "X-API-Key"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// Route is one route of the API a client calls, as the server's route table
// (package runtime/route) describes it; generated code writes them.
type Route struct {
	Method string
	// Path uses net/http pattern syntax: /runs/{run_id}.
	Path        string
	OperationID string
}

// Routes are the routes of the API that do not depend on a pipeline. A
// pipeline's execute route is given to each call that starts a run.
type Routes struct {
	ListPipelines Route
	GetRun        Route
	CancelRun     Route
	RunEvents     Route
	// RerunRun, ListDeadLetters and RequeueDeadLetter are zero in clients
	// generated before those routes existed; their methods then fail.
	RerunRun          Route
	ListDeadLetters   Route
	RequeueDeadLetter Route
}

// Option configures a Client.
type Option func(*config)

type config struct {
	hc         *http.Client
	keyHeader  string
	key        string
	token      string
	maxRetries int
	maxWait    time.Duration
}

// WithAPIKey authenticates every request with an API key, sent in the API
// key header (DefaultAPIKeyHeader, or the one WithAPIKeyHeader names).
func WithAPIKey(key string) Option { return func(c *config) { c.key = key } }

// WithAPIKeyHeader names the header an API key is sent in.
func WithAPIKeyHeader(name string) Option { return func(c *config) { c.keyHeader = name } }

// WithBearerToken authenticates every request with a bearer token (a JWT),
// sent as Authorization: Bearer TOKEN.
func WithBearerToken(token string) Option { return func(c *config) { c.token = token } }

// WithHTTPClient sends requests with hc instead of http.DefaultClient: for
// TLS settings, proxies, timeouts or a test transport. Event streams last as
// long as their run, so hc's Timeout, which bounds a whole response, should
// be zero: bound calls with their ctx instead.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithMaxRetries sets how many times a request safe to repeat is retried
// after a 429 or 503 with Retry-After (DefaultMaxRetries); 0 disables
// retries.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = max(n, 0) } }

// WithMaxRetryWait sets the longest Retry-After a request waits for
// (DefaultMaxRetryWait); a response asking for longer is returned as its
// *Error.
func WithMaxRetryWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// Client calls one taskwire server. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	routes Routes
	cfg    config
	// sleep waits d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// New returns a client of the server at baseURL (http or https, with an
// optional path prefix) whose fixed routes are routes.
func New(baseURL string, routes Routes, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an http or https URL with a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q has a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:   u,
		routes: routes,
		cfg:    config{hc: http.DefaultClient, keyHeader: DefaultAPIKeyHeader, maxRetries: DefaultMaxRetries, maxWait: DefaultMaxRetryWait},
		sleep:  sleep,
		now:    time.Now,
	}
	for _, o := range opts {
		o(&c.cfg)
	}
	if c.cfg.hc == nil {
		c.cfg.hc = http.DefaultClient
	}
	if c.cfg.key != "" && c.cfg.token != "" {
		return nil, errors.New("client: WithAPIKey and WithBearerToken both given; authenticate with one")
	}
	return c, nil
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Error is an HTTP error answered by the server: the status and the fields
// of its RFC 9457 problem+json body. Match it with errors.As.
type Error struct {
	// Status is the HTTP status code, such as 401, 403, 404, 422 or 429.
	Status int
	// Title is the problem's title, the status text ("Unauthorized").
	Title string
	// Detail explains this occurrence ("Not authenticated").
	Detail string
	// Type is the problem type URI ("about:blank").
	Type string
	// RequestID identifies the request in the server's logs and audit log.
	RequestID string
	// Errors names each invalid field of a rejected request body (400, 422).
	Errors []FieldError
	// RetryAfter is the delay the Retry-After header asked for; zero
	// without one.
	RetryAfter time.Duration
	// OperationID names the route that answered (execute_<pipeline>,
	// get_run, ...).
	OperationID string
}

// FieldError names one invalid field of a request body by its path, such as
// sections[2].heading, with a short message ("required").
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error returns the operation, the status and the problem's detail.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("taskwire: ")
	if e.OperationID != "" {
		b.WriteString(e.OperationID + ": ")
	}
	b.WriteString(strconv.Itoa(e.Status))
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for i, fe := range e.Errors {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		if fe.Path != "" {
			b.WriteString(fe.Path + ": ")
		}
		b.WriteString(fe.Message)
		if i == len(e.Errors)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// request is one call: its route, path parameters, query, JSON body and
// extra headers, and whether it is safe to send again.
type request struct {
	route  Route
	params map[string]string
	query  url.Values
	body   []byte // JSON; nil for none
	header http.Header
	safe   bool
	accept string
}

// url builds the request URL: the base URL's path, then the route's path
// with each {name} replaced by its escaped parameter.
func (c *Client) url(r *request) (string, error) {
	path := r.route.Path
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("client: route %s: unterminated parameter in %q", r.route.OperationID, r.route.Path)
		}
		name := path[i+1 : i+j]
		v, ok := r.params[name]
		if !ok || v == "" {
			return "", fmt.Errorf("client: %s: no %s given", r.route.OperationID, name)
		}
		path = path[:i] + url.PathEscape(v) + path[i+j+1:]
	}
	u := *c.base
	u.Path, u.RawPath = "", ""
	target := u.String() + c.base.EscapedPath() + path
	if q := r.query.Encode(); q != "" {
		target += "?" + q
	}
	return target, nil
}

// send sends r and returns the response of a status below 400. Any other
// status is returned as a *Error, after retrying a request safe to repeat
// when the status is 429 or 503 with a Retry-After the policy allows.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	target, err := c.url(r)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.route.Method, target, body)
		if err != nil {
			return nil, fmt.Errorf("client: %s: %w", r.route.OperationID, err)
		}
		c.headers(req, r)
		resp, err := c.cfg.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("client: %s: %w", r.route.OperationID, err)
		}
		if resp.StatusCode < 400 {
			return resp, nil
		}
		perr := c.problem(resp, r.route.OperationID)
		if !r.safe || attempt >= c.cfg.maxRetries || (perr.Status != http.StatusTooManyRequests && perr.Status != http.StatusServiceUnavailable) {
			return nil, perr
		}
		if _, ok := retryAfter(resp.Header, c.now()); !ok || perr.RetryAfter > c.cfg.maxWait {
			return nil, perr
		}
		if err := c.sleep(ctx, perr.RetryAfter); err != nil {
			return nil, fmt.Errorf("client: %s: waiting %s to retry after %d: %w", r.route.OperationID, perr.RetryAfter, perr.Status, err)
		}
	}
}

func (c *Client) headers(req *http.Request, r *request) {
	h := req.Header
	for k, vs := range r.header {
		h[k] = vs
	}
	if r.body != nil {
		h.Set("Content-Type", "application/json")
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	h.Set("Accept", accept+", application/problem+json")
	h.Set("User-Agent", "taskwire-client")
	switch {
	case c.cfg.key != "":
		h.Set(c.cfg.keyHeader, c.cfg.key)
	case c.cfg.token != "":
		h.Set("Authorization", "Bearer "+c.cfg.token)
	}
}

// problem reads an error response into a *Error, and closes its body. A
// body that is not problem+json leaves Title the status text and Detail
// its first line.
func (c *Client) problem(resp *http.Response, op string) *Error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode, OperationID: op}
	var p struct {
		Type      string       `json:"type"`
		Title     string       `json:"title"`
		Status    int          `json:"status"`
		Detail    string       `json:"detail"`
		RequestID string       `json:"request_id"`
		Errors    []FieldError `json:"errors"`
	}
	if json.Unmarshal(data, &p) == nil {
		e.Type, e.Title, e.Detail, e.RequestID, e.Errors = p.Type, p.Title, p.Detail, p.RequestID, p.Errors
	} else {
		line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		e.Detail = line
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	e.RetryAfter, _ = retryAfter(resp.Header, c.now())
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// call sends r and decodes the JSON answer into out (unless out is nil).
func (c *Client) call(ctx context.Context, r *request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s: decoding the %d answer: %w", r.route.OperationID, resp.StatusCode, err)
	}
	return nil
}

// ListPipelines returns the ids of the pipelines the caller may read.
func (c *Client) ListPipelines(ctx context.Context) ([]string, error) {
	var out struct {
		Pipelines []string `json:"pipelines"`
	}
	if err := c.call(ctx, &request{route: c.routes.ListPipelines, safe: true}, &out); err != nil {
		return nil, err
	}
	if out.Pipelines == nil {
		out.Pipelines = []string{}
	}
	return out.Pipelines, nil
}

// GetRun returns the current state of a run: its status, each task's
// status, and its raw outputs once it has succeeded. A run that does not
// exist, or that the caller may not read, is a *Error with Status 404.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	var run Run
	if err := c.call(ctx, &request{route: c.routes.GetRun, params: map[string]string{"run_id": runID}, safe: true}, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// CancelRun cancels a run that has not finished; its running tasks see
// their ctx cancelled. A run that has already finished is a *Error with
// Status 409; cancelling needs the write action on the run's pipeline
// (403 otherwise).
func (c *Client) CancelRun(ctx context.Context, runID string) error {
	return c.call(ctx, &request{route: c.routes.CancelRun, params: map[string]string{"run_id": runID}}, nil)
}
