// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the http.Server that HTTPServer makes. Event streams are
// exempt from WriteTimeout: they set a deadline per write.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = MaxWait + 15*time.Second // an execute may wait MaxWait
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// ShutdownGrace is how long Serve lets requests and runs finish after
	// its context ends.
	ShutdownGrace = 20 * time.Second
)

// HTTPServer returns an http.Server serving h with the timeouts and header
// limit above.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// TLSConfig returns a server TLS configuration: TLS 1.2 or newer, with
// TLS 1.2 limited to forward-secret AEAD cipher suites.
func TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// Serve serves the API on l until ctx is done (for example on SIGTERM with
// signal.NotifyContext), then shuts down gracefully: it stops accepting
// connections, lets requests and runs finish for up to ShutdownGrace, and
// stops the engine. While it serves, it reloads keys and secrets on SIGHUP
// and when the keys file changes (WatchReloads). With certFile and keyFile set it serves TLS (TLSConfig).
func (s *Server) Serve(ctx context.Context, l net.Listener, certFile, keyFile string) error {
	msrv, err := s.metricsServer()
	if err != nil {
		return err
	}
	srv := HTTPServer(l.Addr().String(), s)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	// Event streams last as long as their run: end them when shutting down,
	// or they would hold srv.Shutdown for the whole grace period.
	srv.RegisterOnShutdown(s.stopStreams)
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go s.WatchReloads(watchCtx)
	errc := make(chan error, 1)
	go func() {
		if certFile != "" || keyFile != "" {
			srv.TLSConfig = TLSConfig()
			errc <- srv.ServeTLS(l, certFile, keyFile)
			return
		}
		errc <- srv.Serve(l)
	}()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	if msrv != nil {
		_ = msrv.Close()
	}
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	shutdownErr := srv.Shutdown(grace)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, shutdownErr, s.Shutdown(grace))
}

// MetricsAddr returns the address of the metrics listener that Serve opens
// for security.metrics.listen (loopback when the host is left out), or "".
func (s *Server) MetricsAddr() string {
	m := s.svc.Security.Metrics
	if m == nil || m.Listen == "" || s.metrics == nil {
		return ""
	}
	return loopbackDefault(m.Listen)
}

// loopbackDefault returns addr (host:port) with a missing host made
// 127.0.0.1; an address that does not parse is returned as it is, for the
// listen to fail with the reason.
func loopbackDefault(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// metricsServer starts the metrics listener of security.metrics.listen, if
// any.
func (s *Server) metricsServer() (*http.Server, error) {
	addr := s.MetricsAddr()
	if addr == "" {
		return nil, nil
	}
	srv, err := ServeMetrics(addr, s.metricsHandler, s.log)
	if err != nil {
		return nil, fmt.Errorf("httpapi: metrics listener (security.metrics.listen): %w", err)
	}
	return srv, nil
}

// ServeMetrics serves h, a metrics handler (telemetry.Metrics.Handler), at
// GET /metrics and nothing else, without authentication, on addr (host:port;
// a missing host means loopback), with HTTPServer's timeouts, until the
// server it returns is closed: the listener of security.metrics.listen, and
// of a worker's -metrics-addr.
func ServeMetrics(addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	addr = loopbackDefault(addr)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := HTTPServer(addr, mux)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("taskwire: metrics listener", "addr", addr, "err", err)
		}
	}()
	log.Info("taskwire: serving metrics without authentication", "addr", "http://"+l.Addr().String()+"/metrics")
	return srv, nil
}
