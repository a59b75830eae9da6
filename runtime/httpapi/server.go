// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/graph"
	"github.com/taskwire/taskwire/runtime/pattern"
	"github.com/taskwire/taskwire/runtime/route"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// DefaultMaxBodyBytes is the largest request body accepted unless
// WithMaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Option configures a Server.
type Option func(*config)

type config struct {
	getenv     func(string) string
	log        *slog.Logger
	maxBody    int64
	now        func() time.Time
	maxBuckets int
	authFail   Rate
	audit      *audit.Logger
	metrics    *telemetry.Metrics
	tracer     trace.Tracer
	keysPoll   time.Duration
	reloadHook func(error)
	jwks       JWKSOptions
	// freeSpace, summaryWindow and summaryAddrs: see anonymous.go.
	freeSpace     func(string) (uint64, error)
	summaryWindow time.Duration
	summaryAddrs  int
}

// WithGetenv sets how the server reads API keys and JWT secrets from the
// environment (os.Getenv by default), for tests and secret managers.
func WithGetenv(getenv func(string) string) Option {
	return func(c *config) { c.getenv = getenv }
}

// WithLogger sets the logger for server errors (slog.Default by default).
// Credentials are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMaxBodyBytes sets the largest request body accepted (DefaultMaxBodyBytes by default).
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithClock sets the clock for key expiry, token validation, rate limits and
// audit records (time.Now by default), so tests need not sleep.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxBuckets caps the rate limiter's buckets (DefaultMaxBuckets by
// default), separately for principals and for client addresses.
func WithMaxBuckets(n int) Option { return func(c *config) { c.maxBuckets = n } }

// WithAuthFailureLimit sets how many failed authentications one client
// address may make per period before it gets 429 (DefaultAuthFailureRate by default).
func WithAuthFailureLimit(r Rate) Option { return func(c *config) { c.authFail = r } }

// Server serves a generated service's HTTP API. It is an http.Handler; use
// HTTPServer for an http.Server with safe timeouts. Create it with New.
type Server struct {
	svc          Service
	engine       *runtime.Engine
	mux          *http.ServeMux
	routes       []*Route
	pipelines    map[string]*pipeline
	order        []*pipeline // in registration order
	policy       policy
	auth         *authenticator
	proxies      []netip.Prefix
	log          *slog.Logger
	maxBody      int64
	now          func() time.Time
	streams      streamCounter
	limits       *limiter // buckets of principals
	addrLimits   *limiter // buckets of client addresses (public routes, failed authentications)
	audit        *audit.Logger
	ownAudit     bool // opened by New, closed by Shutdown
	authFailures Rate
	anon         anonState // the bounds of anonymous traffic
	// metrics is nil when metrics are off; tracer is nil when requests
	// are not traced.
	metrics        *telemetry.Metrics
	metricsHandler http.Handler
	tracer         trace.Tracer
	keysPoll       time.Duration
	reloadHook     func(error)
	reloadCount    reloadCounters
	stopJWKS       context.CancelFunc // ends the JWK Sets' refreshes
	docsState
	console consoleState

	shutdownOnce sync.Once
	shutdownErr  error

	// closing is closed when the server starts shutting down; event
	// streams end then, so that they do not hold a graceful shutdown.
	closing     chan struct{}
	closingOnce sync.Once
}

// stopStreams ends the open event streams (once).
func (s *Server) stopStreams() { s.closingOnce.Do(func() { close(s.closing) }) }

// pipeline is a pipeline the server serves, with what it derives once.
type pipeline struct {
	runtime.Pipeline
	graph *graph.Graph
	limit *Rate // of its execute route
}

// New checks svc and returns the server of the pipelines of e's registry,
// served by the routes of package route. It fails (and starts nothing) when
// the service description is inconsistent or the security policy cannot be
// enforced: an API key whose variable is unset, empty or too short, a keys
// file that cannot be read or holds a bad entry, a JWT secret shorter than
// 32 bytes, an unreadable public key, a malformed
// trusted proxy, a pipeline without an input schema. The server does not
// own e: shut e down after the server (see Serve).
func New(e *runtime.Engine, svc Service, opts ...Option) (*Server, error) {
	if e == nil {
		return nil, errors.New("httpapi: no engine")
	}
	c := config{getenv: os.Getenv, log: slog.Default(), maxBody: DefaultMaxBodyBytes, now: time.Now, maxBuckets: DefaultMaxBuckets, authFail: DefaultAuthFailureRate, keysPoll: DefaultKeysFilePoll}
	for _, o := range opts {
		o(&c)
	}
	if c.maxBody <= 0 {
		return nil, fmt.Errorf("httpapi: body limit must be positive, not %d", c.maxBody)
	}
	if c.maxBuckets < 1 || c.authFail.N < 1 || c.authFail.Per <= 0 {
		return nil, errors.New("httpapi: rate limiter settings must be positive")
	}
	if c.keysPoll <= 0 {
		return nil, errors.New("httpapi: the keys file's poll interval must be positive")
	}
	s := &Server{
		svc:          svc,
		engine:       e,
		mux:          http.NewServeMux(),
		pipelines:    map[string]*pipeline{},
		policy:       policy{enabled: svc.Security.Enabled, acls: svc.Security.ACLs},
		log:          c.log,
		maxBody:      c.maxBody,
		now:          c.now,
		limits:       newLimiter(c.maxBuckets),
		addrLimits:   newLimiter(c.maxBuckets),
		authFailures: c.authFail,
		keysPoll:     c.keysPoll,
		reloadHook:   c.reloadHook,
		closing:      make(chan struct{}),
		metrics:      serverMetrics(&c, e, svc),
		tracer:       c.tracer,
	}
	if s.metrics != nil {
		s.metricsHandler = s.metrics.Handler()
	}
	var ids []string
	for _, d := range e.Registry().Pipelines() {
		if d.Input == nil {
			return nil, fmt.Errorf("httpapi: pipeline %q has no input schema", d.ID)
		}
		if err := d.Input.Compile(); err != nil {
			return nil, fmt.Errorf("httpapi: pipeline %q: %w", d.ID, err)
		}
		p := &pipeline{Pipeline: d, graph: graph.Of(d)}
		s.pipelines[d.ID] = p
		s.order = append(s.order, p)
		ids = append(ids, d.ID)
	}
	if svc.Security.Enabled {
		auth, err := newAuthenticator(svc.Security, c.getenv, c.now, c.jwks, c.log)
		if err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
		s.auth = auth
		if auth.jwt != nil && auth.jwt.remote != nil {
			ctx, cancel := context.WithCancel(context.Background())
			s.stopJWKS = cancel
			auth.jwt.start(ctx)
		}
	}
	for _, acl := range svc.Security.ACLs {
		if err := pattern.Valid(acl.Pattern); err != nil {
			return nil, fmt.Errorf("httpapi: acl: %w", err)
		}
	}
	for _, cidr := range svc.Security.TrustedProxies {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("httpapi: trusted proxy %q: %w", cidr, err)
		}
		s.proxies = append(s.proxies, p.Masked())
	}
	if err := s.bindRoutes(route.Table(ids, svc.Security.Metrics != nil)); err != nil {
		return nil, err
	}
	if svc.Security.Enabled && svc.Security.Audit.Enabled {
		s.audit = c.audit
		if s.audit == nil {
			a := svc.Security.Audit
			opts := audit.Options{MaxSize: a.MaxSize, Sync: a.Sync, SyncInterval: a.SyncInterval, Now: c.now, CheckpointInterval: a.CheckpointInterval}
			key, err := audit.KeyFromEnv(a.KeyEnv, c.getenv)
			if err != nil {
				return nil, fmt.Errorf("httpapi: security.audit.key_env: %w", err)
			}
			opts.Key = key
			opts.Observer = auditObserver(s.metrics, c.log)
			l, err := audit.Open(a.File, opts)
			if err != nil {
				return nil, fmt.Errorf("httpapi: %w", err)
			}
			s.audit, s.ownAudit = l, true
		}
	}
	if err := s.setUpAnonymous(&c); err != nil {
		if s.ownAudit {
			_ = s.audit.Close()
		}
		return nil, err
	}
	return s, nil
}

// Engine returns the engine the server was given.
func (s *Server) Engine() *runtime.Engine { return s.engine }

// Routes returns the route table the server serves (user routes included).
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		out[i] = *r
	}
	return out
}

// handlerFor returns the built-in handler of a route of the table.
func (s *Server) handlerFor(rt *Route) (http.HandlerFunc, error) {
	if rt.IsExecute() {
		p := s.pipelines[rt.Pipeline]
		p.limit = rt.Limit
		return func(w http.ResponseWriter, r *http.Request) { s.execute(w, r, p) }, nil
	}
	switch rt.OperationID {
	case route.ListPipelines:
		return s.listPipelines, nil
	case route.GetPipeline:
		return s.getPipeline, nil
	case route.GetPipelineGraph:
		return s.getGraph, nil
	case route.ListRuns:
		return s.listRuns, nil
	case route.GetRun:
		return s.getRun, nil
	case route.CancelRun:
		return s.cancelRun, nil
	case route.RerunRun:
		return s.rerunRun, nil
	case route.RunEvents:
		return s.runEvents, nil
	case route.ListDeadLetters:
		return s.listDeadLetters, nil
	case route.RequeueDead:
		return s.requeueDeadLetter, nil
	case route.OpenAPI:
		return s.openAPI, nil
	case route.Docs:
		return s.docs, nil
	case route.Console:
		return s.consolePage, nil
	case route.ConsoleFile:
		return s.consoleFile, nil
	case route.Health:
		return s.health, nil
	case route.Metrics:
		return s.metricsPage, nil
	}
	return nil, fmt.Errorf("httpapi: no handler for operation %q (%s %s)", rt.OperationID, rt.Method, rt.Path)
}

// bindRoutes serves table, each route limited as the spec's rate limits say
// when security and limits are on.
func (s *Server) bindRoutes(table []Route) error {
	if s.svc.Security.Enabled {
		s.svc.Security.RateLimits.Apply(table)
	}
	for i := range table {
		rt := table[i]
		if rl := rt.Limit; rl != nil && (rl.N < 1 || rl.Per <= 0) {
			return fmt.Errorf("httpapi: route %q has an invalid rate limit", rt.OperationID)
		}
		h, err := s.handlerFor(&rt)
		if err != nil {
			return err
		}
		if err := s.handle(&rt, h); err != nil {
			return err
		}
	}
	return nil
}

// handle registers a route behind the middleware chain.
func (s *Server) handle(rt *Route, h http.Handler) (err error) {
	if rt.Method == "" || !strings.HasPrefix(rt.Path, "/") {
		return fmt.Errorf("httpapi: route %q needs a method and a path starting with /", rt.OperationID)
	}
	for _, have := range s.routes {
		if have.OperationID == rt.OperationID {
			return fmt.Errorf("httpapi: operation id %q is used twice", rt.OperationID)
		}
	}
	defer func() { // ServeMux panics on conflicting patterns
		if p := recover(); p != nil {
			err = fmt.Errorf("httpapi: route %s %s: %v", rt.Method, rt.Path, p)
		}
	}()
	entry := s.chain(rt, h)
	if rt.OperationID == route.Docs {
		entry = s.leadBrowsers(rt, entry)
	}
	s.mux.Handle(rt.Method+" "+rt.Path, entry)
	s.routes = append(s.routes, rt)
	return nil
}

// Handle adds a user-defined route to the server. It gets the same chain as
// the built-in routes: request id, panic recovery, HTTPS enforcement,
// authentication (unless route.Public), rate limiting by route.Limit,
// authorisation (when route.Action and route.Pipeline are set, the principal
// needs that action on that pipeline), security headers and audit. The
// handler reads the caller with PrincipalFrom. Call Handle before serving.
func (s *Server) Handle(route Route, h http.Handler) error {
	if route.Key == "" {
		route.Key = route.OperationID
	}
	if route.OperationID == "" {
		return errors.New("httpapi: a user route needs an operation id")
	}
	if route.Pipeline != "" && s.pipelines[route.Pipeline] == nil {
		return fmt.Errorf("httpapi: route %q names unknown pipeline %q", route.OperationID, route.Pipeline)
	}
	if (route.Pipeline == "") != (route.Action == "") {
		return fmt.Errorf("httpapi: route %q must set both Action and Pipeline, or neither", route.OperationID)
	}
	return s.handle(&route, h)
}

// SetRunID records that the request r, served by a Server's route, started
// or concerns run runID, as the built-in execute does for the run it
// starts: the request's audit record, log line and trace span carry the
// id. It is for user routes (Server.Handle) that start runs; outside a
// Server's route it does nothing.
func SetRunID(r *http.Request, runID string) {
	if info := infoFrom(r); info != nil {
		info.RunID = runID
	}
}

// ServeHTTP serves the API. Unknown paths answer 404 and known paths with
// the wrong method 405 with Allow, both as problem+json.
//
// A request the ServeMux would redirect (a path that is not canonical, such
// as //pipelines or /runs/../pipelines, or a missing trailing slash) answers
// 404 too: the mux's redirect would bypass the middleware chain (no security
// headers, no audit record, and a redirect where HTTPS is required).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if _, routed := h.(chained); pattern == "" || !routed {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unrouted answers a request no route matches, reusing ServeMux's own
// decision between 404 and 405 (and its Allow header).
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	rec := &headerRecorder{header: http.Header{}}
	h, _ := s.mux.Handler(r)
	h.ServeHTTP(rec, r)
	status := rec.status
	if status != http.StatusMethodNotAllowed {
		status = http.StatusNotFound
	}
	var began time.Time
	var rm *telemetry.Route
	if s.metrics != nil {
		began, rm = time.Now(), s.metrics.Route(telemetry.UnroutedRoute)
	}
	info := &requestInfo{RequestID: newRequestID(), addr: s.clientIP(r)}
	r = withInfo(r, info)
	if rm != nil {
		defer s.observe(rm, nil, info, began)
	}
	s.audited(w, r, info, func(w http.ResponseWriter) {
		setSecurityHeaders(w.Header())
		w.Header().Set("X-Request-Id", info.RequestID)
		if s.tls(r) {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		if !s.admitAnonymous(w, r, info, true) {
			return
		}
		if allow := rec.header.Get("Allow"); allow != "" && status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allow)
			writeProblem(w, r, status, fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow))
			return
		}
		writeProblem(w, r, http.StatusNotFound, "no such route")
	})
}

type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// Shutdown ends the open event streams, writes the summaries of anonymous
// requests of the current window and closes the audit log the server
// opened. Stop the http.Server first so that no request is still being
// served, and shut the engine down after (see Serve).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopStreams()
	s.shutdownOnce.Do(func() {
		if s.stopJWKS != nil {
			s.stopJWKS()
		}
		s.shutdownErr = s.closeSummaries()
		if s.ownAudit {
			s.shutdownErr = errors.Join(s.shutdownErr, s.audit.Close())
		}
	})
	return s.shutdownErr
}
