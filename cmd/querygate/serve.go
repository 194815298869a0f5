package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/web"
)

// serve starts the gateway: it returns once the server is listening, and
// Close stops it.
func (m *Main) serve(ctx context.Context) error {
	acc := m.accounts()
	token, needed, err := acc.PrepareSetup(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.ln = ln
	secure := m.Config.Certificate != nil || m.Config.TLSSelfSigned
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case m.Config.TLSSelfSigned:
		cert, err := m.selfSignedCert()
		if err != nil {
			ln.Close()
			return err
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	case m.Config.Certificate != nil:
		tlsConfig.Certificates = []tls.Certificate{*m.Config.Certificate}
	}
	if !secure && !loopbackHost(m.Config.ListenHost) {
		m.log.Warn("serving plain HTTP on a non-loopback address (--insecure-http): only do this behind a TLS-terminating proxy")
	}
	// Every listener is open before the dialer is made, so that the egress
	// policy denies each of their bound addresses.
	listeners := []net.Listener{ln}
	var mln net.Listener
	if m.Config.MetricsListen != "" {
		if mln, err = net.Listen("tcp", m.Config.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		listeners = append(listeners, mln)
		m.metricsLn = mln
	}
	dialer := newDialer(&m.Config, listeners...)
	reg := kinds(m.Config.SQLiteDirs)
	datasources := datasource.NewService(datasource.ServiceOptions{Store: m.db, Envelope: m.inst.Envelope, Kinds: reg,
		Preflight: preflight(reg, dialer, m.Config.RequireDatasourceTLS)})
	// The pool gauge reads m.queries, set just below.
	met := metrics.New(func() int {
		if q := m.queries; q != nil {
			return q.PoolCount()
		}
		return 0
	})
	devices := device.NewService(device.Options{Store: m.db, Cookies: m.inst.Cookies, Secure: secure,
		Remember: m.Config.DeviceRememberMax, Session: min(m.Config.SessionTTL, m.Config.DeviceRememberMax)})
	savedQueries := savedquery.NewService(m.db)
	m.queries = query.NewService(query.Options{
		Logger: m.log, Datasources: datasources, Kinds: reg, Dial: countDenials(dialer.DialContext, met), Egress: dialer.Policy(),
		Limits: query.Limits{MaxRows: m.Config.RowLimitMax, MaxTimeout: m.Config.QueryTimeoutMax, MaxConns: m.Config.PoolMaxConns,
			DeviceIdle: m.Config.DevicePoolIdle},
		SQLiteDirs: m.Config.SQLiteDirs, SQLiteDeny: m.ownFiles(), HTTPResponseMax: m.Config.HTTPResponseMax,
		RequireTLS: m.Config.RequireDatasourceTLS,
		Devices:    devices, SavedQueries: savedQueries, Audit: m.audit, Metrics: met, AuditQueryText: m.Config.AuditQueryText,
	})
	srv := web.New(web.Options{
		Logger: m.log, Ready: m.db, Accounts: acc, Dashboards: dashboard.NewService(m.db), Cookies: m.inst.Cookies, Devices: devices,
		Audit: m.audit, AuditQueryText: m.Config.AuditQueryText, Metrics: met,
		Datasources: datasources, Queries: m.queries, SavedQueries: savedQueries,
		Secure: secure, Version: version(),
		Ingress:         web.Ingress{AllowClients: m.Config.AllowClients, TrustedProxies: m.Config.TrustedProxies},
		Egress:          describeEgress(dialer, &m.Config),
		SSO:             sso.NewService(m.db, m.inst.Envelope, dialer),
		ForceLocalLogin: m.Config.LocalLogin,
		AllowedHosts:    allowedHosts(m.Config.Listen, ln.Addr(), m.Config.AllowedHosts),
		MCP:             m.mcpOptions(),
	})
	if len(m.Config.AllowedHosts) == 0 && !isLoopback(ln.Addr()) {
		m.log.WarnContext(ctx, "listening on a non-loopback address without --allowed-hosts: requests for any host name are answered; "+
			"set --allowed-hosts to the names clients use, against DNS rebinding", "listen", ln.Addr().String())
	}
	m.web = srv
	// Every request's context descends from base, so that cancelling it
	// after the shutdown grace cancels the running queries at their
	// datasources.
	base, cancelRequests := context.WithCancel(context.Background())
	m.cancelRequests = cancelRequests
	m.srv = &http.Server{
		BaseContext: func(net.Listener) context.Context { return base },
		Handler:     srv.Handler(),
		TLSConfig:   tlsConfig,
		// Slow clients cannot hold connections open: the headers must come
		// within 10s and the whole request (bodies are at most 1 MiB)
		// within 60s. ReadTimeout covers reading the request only: Go
		// clears the deadline once the body is read, so long result
		// streams are not cut. There is no WriteTimeout for that reason;
		// queries have their own timeouts.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	m.done = make(chan error, 1)
	scheme := "http"
	go func() {
		var err error
		if secure {
			// The key pair is in TLSConfig, loaded before the start.
			err = m.srv.ServeTLS(ln, "", "")
		} else {
			err = m.srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	if secure {
		scheme = "https"
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", met.Handler())
		m.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go m.metricsSrv.Serve(mln)
		m.log.InfoContext(ctx, "metrics serving", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	m.serving = true
	open := browserURL(scheme, m.Config.ListenHost, ln.Addr())
	attrs := []any{"version", version(), "url", open, "data_dir", m.Config.DataDir}
	if needed {
		attrs = append(attrs, "setup", open+"setup")
	}
	m.log.InfoContext(ctx, "querygate serving: open "+open+" in a browser", attrs...)
	if needed {
		fmt.Fprintf(m.Stderr, "\n  No user exists yet. Create the first admin on the setup page:\n\n"+
			"    %ssetup\n\n"+
			"  with this one-time setup token: %s\n\n"+
			"  or with curl:\n"+
			"    curl -X POST %sapi/setup -H 'Content-Type: application/json' \\\n"+
			"      -d '{\"token\":\"%s\",\"username\":\"admin\",\"password\":\"...\"}'\n\n"+
			"  or run: querygate user add --username admin --role admin\n"+
			"  The token works once, only until the first user exists, and changes at each start.\n\n", open, token, open, token)
	}
	return nil
}

// browserURL is the address to open in a browser: scheme://host:port/ with
// the --listen host as given (a name stays a name), and localhost for an
// unspecified one (0.0.0.0, ::, or none), which the gateway always answers
// for and its self-signed certificate names.
func browserURL(scheme, listenHost string, addr net.Addr) string {
	host := listenHost
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	port := ""
	if a, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	} else if _, p, err := net.SplitHostPort(addr.String()); err == nil {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// allowedHosts returns the host names the gateway answers for (web
// AllowedHosts): with an operator list, or when listening on loopback only,
// that list plus the loopback names and the --listen host; otherwise nil,
// which answers any host name.
func allowedHosts(listen string, addr net.Addr, list []string) []string {
	if len(list) == 0 && !isLoopback(addr) {
		return nil
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, list...)
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
		hosts = append(hosts, h)
	}
	if a, ok := addr.(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		hosts = append(hosts, a.IP.String())
	}
	return hosts
}

// isLoopback reports whether the gateway listens on a loopback address only.
func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// mcpOptions configures the MCP endpoint, or nil without --mcp.
func (m *Main) mcpOptions() *mcp.Options {
	if !m.Config.MCP {
		return nil
	}
	return &mcp.Options{MaxRows: m.Config.MCPMaxRows, MaxBytes: m.Config.MCPMaxBytes, SQLWritable: m.Config.MCPSQLWritable, Version: version()}
}
