package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"amaters-server/promtext"
	"amaters-server/server/config"
)

// Version is the server's release version.
const Version = "0.2.0"

// Server states, held in Server.state.
const (
	stateStarting int32 = iota
	stateServing
	stateDraining
	stateStopped
)

func stateName(s int32) string {
	switch s {
	case stateStarting:
		return "starting"
	case stateServing:
		return "serving"
	case stateDraining:
		return "draining"
	}
	return "stopped"
}

// Options are the dependencies of a Server that do not come from the
// configuration. The zero value is valid.
type Options struct {
	// Log is where the server logs, from [OpenLog]; it is reopened on
	// reload and its health shows in /health. Nil means Logger, or stderr.
	Log *LogOutput
	// Logger receives the server's logs when Log is nil; nil builds one on
	// stderr from the configuration (observability.log_format,
	// server.log_level).
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Reload loads the configuration again (file, environment, flags) for
	// [Server.Reload]; nil means Reload re-reads only the files the current
	// configuration names (keys, roles, certificates).
	Reload func() (config.Config, error)
	// NotifySocket is systemd's $NOTIFY_SOCKET: the server sends READY=1
	// once it serves and STOPPING=1 when it starts shutting down. ""
	// means not under systemd.
	NotifySocket string
	// Watchdog is systemd's watchdog interval ($WATCHDOG_USEC); the server
	// pings every half of it while serving. 0 means none.
	Watchdog time.Duration
	// OpenEngine opens the storage engine, once Run has its listeners
	// (so /livez answers during a long recovery); Run closes it at the
	// end. It may take a while, and should give up when ctx ends. nil
	// opens what storage.engine names: lsm in <data_dir>/db, or the same
	// on an in-memory file system. A replicated engine comes in here.
	OpenEngine func(ctx context.Context, cfg config.Config, log *slog.Logger) (Engine, error)
}

// Server is one amaters-server: the API listener, the health and metrics
// listener and the storage engine. Create it with New and run it once with
// Run. Its methods are safe for concurrent use.
type Server struct {
	cfg    config.Config
	log    *slog.Logger
	logOut *LogOutput   // nil unless given in Options.Log
	access *slog.Logger // the access log when fastAccess is nil: log
	// fastAccess writes the access log into logOut's line buffer.
	fastAccess *accessWriter
	now        func() time.Time
	reg        *promtext.Registry
	metrics    *metrics
	ids        *requestIDs
	cache      *queryCache // nil when the query cache is off
	gzip       gzipWriters

	state   atomic.Int32
	started time.Time
	conns   atomic.Int64

	// live is the state SIGHUP reloads: authentication, authorization, TLS,
	// CORS, rate limits (see Reload).
	live atomic.Pointer[live]
	// level is the log level, when the logger came from OpenLog.
	level *slog.LevelVar
	// reload loads the configuration again for Reload; nil re-reads only
	// the files the current configuration names.
	reload func() (config.Config, error)
	notify notifier
	// audit is set in Run, before the API serves.
	audit *auditLog

	// store is set once storage is open, before the API serves.
	store *store
	eng   atomic.Pointer[Engine]
	// openEngine opens the storage engine (Options.OpenEngine, or openLSM).
	openEngine func(context.Context, config.Config, *slog.Logger) (Engine, error)
	// backupMu is held while a backup streams: at most one checkpoint is
	// open at a time, because each pins tables that compaction would
	// otherwise delete, so concurrent backups could hold several
	// versions' worth of disk.
	backupMu sync.Mutex

	ready        chan struct{} // closed when serving
	shutdown     chan struct{} // closed by RequestShutdown
	shutdownOnce sync.Once

	mu         sync.Mutex // guards apiAddr and healthAddr
	apiAddr    string
	healthAddr string
}

// New checks cfg and builds a Server; it opens nothing yet.
func New(cfg config.Config, opts Options) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		log:      opts.Logger,
		now:      opts.Now,
		reg:      promtext.NewRegistry(),
		ids:      newRequestIDs(),
		ready:    make(chan struct{}),
		shutdown: make(chan struct{}),
	}
	switch {
	case opts.Log != nil:
		s.logOut, s.log, s.fastAccess, s.level = opts.Log, opts.Log.Logger, opts.Log.access, opts.Log.level
	case s.log == nil:
		s.log = NewLogger(os.Stderr, cfg)
	}
	if s.access == nil {
		s.access = s.log
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	sec, err := check(&s.cfg, s.now)
	if err != nil {
		return nil, err
	}
	s.live.Store(sec)
	s.reload = opts.Reload
	s.openEngine = opts.OpenEngine
	if s.openEngine == nil {
		s.openEngine = openLSM
	}
	s.notify = notifier{socket: opts.NotifySocket, watchdog: opts.Watchdog, log: s.log}
	s.metrics = newMetrics(s.reg, s)
	s.cache = newQueryCache(&s.cfg, s.metrics, s.reg)
	return s, nil
}

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	return newLogger(w, cfg, logLevel(cfg))
}

func logLevel(cfg config.Config) *slog.LevelVar {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Server.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	v := new(slog.LevelVar)
	v.Set(level)
	return v
}

func newLogger(w io.Writer, cfg config.Config, level slog.Leveler) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if cfg.Observability.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// Ready is closed once the server serves its API.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the API listener's address once Ready is closed.
func (s *Server) Addr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.apiAddr }

// HealthAddr returns the health listener's address once Ready is closed.
func (s *Server) HealthAddr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.healthAddr }

// RequestShutdown starts a graceful shutdown, as SIGTERM does.
func (s *Server) RequestShutdown() { s.shutdownOnce.Do(func() { close(s.shutdown) }) }

func (s *Server) uptime() time.Duration { return s.now().Sub(s.started) }

func (s *Server) engineStats() EngineStats {
	if e := s.eng.Load(); e != nil {
		return (*e).Stats()
	}
	return EngineStats{}
}

// Run serves until ctx is cancelled or a shutdown is requested, then shuts
// down as API.md §6 says: readiness off, listeners closed, in-flight
// requests drained within server.shutdown_timeout_ms, storage flushed and
// closed. It returns nil after a clean shutdown, or the error that
// prevented starting or stopping cleanly.
func (s *Server) Run(ctx context.Context) (err error) {
	if err := os.MkdirAll(s.cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Server.BindAddress)

	// Listen first, so a port in use fails at once, before recovery.
	healthLn, err := listen(net.JoinHostPort(host, strconv.FormatInt(s.cfg.Health.HTTPPort, 10)), "health")
	if err != nil {
		return err
	}
	defer healthLn.Close()
	var metricsLn net.Listener
	if mp := s.cfg.MetricsPort(); mp != s.cfg.Health.HTTPPort {
		if metricsLn, err = listen(net.JoinHostPort(host, strconv.FormatInt(mp, 10)), "metrics"); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	rawAPILn, err := listen(s.cfg.Server.BindAddress, "API")
	if err != nil {
		return err
	}
	var apiLn net.Listener = newLimitListener(rawAPILn, int(s.cfg.Network.MaxConnections))
	defer apiLn.Close()

	// Health serves from now on: /livez answers during recovery, /readyz
	// waits for storage.
	healthSrv := &http.Server{
		Handler:           s.healthHandler(),
		ReadHeaderTimeout: s.cfg.Network.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       s.cfg.Network.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	serveErr := make(chan error, 3)
	serve := func(srv *http.Server, ln net.Listener) {
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	serve(healthSrv, healthLn)
	if metricsLn != nil {
		serve(healthSrv, metricsLn)
	}
	defer func() {
		// Health goes last, so probes see the whole shutdown.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := healthSrv.Shutdown(sctx); err != nil {
			healthSrv.Close()
		}
		wg.Wait()
	}()

	if s.cfg.Audit.Enabled {
		if s.audit, err = openAuditLog(s.cfg.AuditFile(), rotationOptions(&s.cfg, s.now), s.now, s.log); err != nil {
			return err
		}
		defer s.audit.Close()
	}

	if err := s.openStorage(ctx); err != nil {
		return err
	}
	storageClosed := false
	defer func() {
		if !storageClosed {
			s.store.Close()
		}
	}()

	if s.cfg.Server.PIDFile != "" {
		if err := writePIDFile(s.cfg.Server.PIDFile); err != nil {
			return err
		}
		defer removePIDFile(s.cfg.Server.PIDFile, s.log)
	}

	transfer := s.transferTimeout()
	apiSrv := &http.Server{
		Handler:           s.apiHandler(),
		ReadHeaderTimeout: s.cfg.Network.ReadHeaderTimeout,
		// A whole body of max_body_bytes must fit in the read budget even
		// from a slow client; slowloris is bounded by ReadHeaderTimeout.
		ReadTimeout:    s.cfg.Network.ReadHeaderTimeout + transfer,
		WriteTimeout:   s.cfg.Network.ReadHeaderTimeout + 2*transfer,
		IdleTimeout:    s.cfg.Network.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       log.New(serverErrorLog{s}, "", 0),
		ConnState:      s.trackConn,
	}
	if s.live.Load().tls != nil {
		// Every handshake takes the current configuration, so a reload
		// of the certificate or the client CAs applies to new connections.
		apiSrv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return s.live.Load().tls, nil
			},
		}
		apiLn = tls.NewListener(apiLn, apiSrv.TLSConfig)
	}
	serve(apiSrv, apiLn)

	s.mu.Lock()
	s.apiAddr, s.healthAddr = rawAPILn.Addr().String(), healthLn.Addr().String()
	s.mu.Unlock()
	s.state.Store(stateServing)
	close(s.ready)
	s.notify.send("READY=1\nSTATUS=serving")
	wdctx, stopWatchdog := context.WithCancel(ctx)
	wg.Go(func() { s.notify.runWatchdog(wdctx) })
	s.log.Info("serving",
		slog.String("version", Version),
		slog.String("api", s.Addr()),
		slog.String("health", s.HealthAddr()),
		slog.String("engine", s.cfg.Storage.Engine),
		slog.String("data_dir", s.cfg.Server.DataDir),
		slog.Bool("auth", s.cfg.Auth.Enabled()),
		slog.Bool("tls", s.live.Load().tls != nil))
	switch {
	case !s.cfg.Auth.Enabled() && s.cfg.Auth.AllowAnonymous:
		s.log.Warn("no authentication and auth.allow_anonymous = true: every client that reaches the API can read, write and shut down the server")
	case !s.cfg.Auth.Enabled():
		s.log.Warn("no authentication configured: protected mode, only loopback clients are served")
	case s.cfg.Auth.AllowAnonymous:
		s.log.Warn("auth.allow_anonymous = true: requests without credentials are served with the default role", slog.String("default_role", s.cfg.Authz.DefaultRole))
	}

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutdown requested by signal")
	case <-s.shutdown:
		s.log.Info("shutdown requested through the admin API")
	case runErr = <-serveErr:
		s.log.Error("listener failed; shutting down", slog.String("error", runErr.Error()))
	}

	// §6: readiness off, listeners closed, in-flight requests drained.
	s.state.Store(stateDraining)
	stopWatchdog()
	s.notify.send("STOPPING=1\nSTATUS=draining")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := apiSrv.Shutdown(dctx); err != nil {
		s.log.Warn("drain budget exhausted; closing remaining connections",
			slog.Duration("shutdown_timeout", s.cfg.Server.ShutdownTimeout))
		apiSrv.Close()
	}
	// Storage: for lsm, flush the memtable, sync and close the WAL.
	storageClosed = true
	if err := s.store.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close storage: %w", err))
	}
	s.state.Store(stateStopped)
	if runErr == nil {
		s.log.Info("stopped cleanly")
	}
	return runErr
}

func listen(addr, what string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s address %s is already in use (another amaters-server or program is listening there)", what, addr)
		}
		return nil, fmt.Errorf("%s listener: %w", what, err)
	}
	return ln, nil
}

// openStorage opens the engine and recovers its data.
func (s *Server) openStorage(ctx context.Context) error {
	eng, err := s.openEngine(ctx, s.cfg, s.log)
	if err != nil {
		return err
	}
	s.eng.Store(&eng)
	s.store = newStore(eng, s.cache, s.metrics)
	return nil
}

func (s *Server) trackConn(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
	}
}

// apiHandler is the API middleware chain; the outermost step is last.
func (s *Server) apiHandler() http.Handler {
	var h http.Handler = s.apiMux() // routing, then authorization per route
	h = s.withDraining(h)
	h = s.withRateLimit(h)
	h = s.withAuthentication(h)
	h = s.withBodyLimit(h)
	h = s.withCompression(h)
	h = s.withCORS(h)
	h = s.withMetrics(h)
	h = s.withAccessLog(h)
	h = s.withRecover(h)
	h = s.withRequestID(h)
	return h
}

// maxHeaderBytes caps a request's headers; net/http answers 431 past it.
// A percent-encoded key of max_key_bytes takes at most 3·65535 bytes.
const maxHeaderBytes = 256 << 10

// minClientRate is the slowest body transfer (bytes per second) the
// timeouts allow for: a body of max_body_bytes gets that long, plus 30 s.
const minClientRate = 128 << 10

func (s *Server) transferTimeout() time.Duration {
	return 30*time.Second + time.Duration(s.cfg.MaxBodyBytes()/minClientRate)*time.Second
}

// writePIDFile writes the process id atomically: temp file, fsync, rename.
func writePIDFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pid file folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".amaters-pid-*")
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", os.Getpid())
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pid file %s: %w", path, werr)
	}
	return nil
}

// Abandon is for a process about to exit without Run returning (a second
// signal): it removes the pid file Run wrote, as a normal exit does. The
// storage is left as a crash would leave it, which the log makes safe.
func (s *Server) Abandon() {
	if s.cfg.Server.PIDFile != "" {
		removePIDFile(s.cfg.Server.PIDFile, s.log)
	}
}

// removePIDFile removes the pid file if it still holds this process's id.
func removePIDFile(path string, log *slog.Logger) {
	data, err := os.ReadFile(path)
	if err != nil || string(data) != fmt.Sprintf("%d\n", os.Getpid()) {
		return
	}
	if err := os.Remove(path); err != nil {
		log.Warn("could not remove pid file", slog.String("path", path), slog.String("error", err.Error()))
	}
}

// Reload is what SIGHUP does. It reopens the log and audit files, then
// loads the configuration again (Options.Reload), validates all of it, and
// applies what can change while serving: authentication and roles (keys,
// secrets, files), TLS certificate and client CAs, log level, rate limits
// and CORS origins. Settings that need a restart are named in a warning and
// keep their running values. An invalid configuration changes nothing: the
// error is logged, audited and returned.
func (s *Server) Reload() error {
	// Log files first: after an external logrotate moved them, the lines
	// about this reload belong in the new files.
	if err := s.logOut.Reopen(); err != nil {
		s.log.Error("reopen log file", slog.String("error", err.Error()))
	}
	if err := s.audit.Reopen(); err != nil {
		s.log.Error("reopen audit log", slog.String("error", err.Error()))
	}
	old := s.live.Load()
	cfg := *old.cfg
	var err error
	if s.reload != nil {
		cfg, err = s.reload()
	}
	var next *live
	if err == nil {
		next, err = check(&cfg, s.now)
	}
	if err != nil {
		s.log.Error("reload refused; the previous configuration stays in force", slog.String("error", err.Error()))
		s.audit.record(nil, principal{label: "operator (SIGHUP)"}, "reload", "config", "failure", "invalid configuration")
		return err
	}
	restart := restartNeeded(old.cfg, next.cfg)
	if (old.tls == nil) != (next.tls == nil) {
		next.tls = old.tls // the listener is TLS or not from the start
		restart = append(restart, "network.tls_cert", "network.tls_key")
	}
	if old.limiters.sameRate(next.limiters) {
		next.limiters = old.limiters // keep the clients' buckets
	}
	s.live.Store(next)
	if s.level != nil {
		s.level.Set(logLevel(cfg).Level())
	} else if cfg.Server.LogLevel != old.cfg.Server.LogLevel {
		restart = append(restart, "server.log_level")
	}
	s.log.Debug("reload applied", slog.String("log_level", cfg.Server.LogLevel),
		slog.Int64("rate_limit_rps", cfg.Middleware.RateLimitRPS), slog.Int("cors_origins", len(cfg.Middleware.CORSOrigins)))
	if len(restart) > 0 {
		s.log.Warn("reloaded; these settings changed but need a restart to take effect", slog.String("keys", strings.Join(restart, ", ")))
	} else {
		s.log.Info("reloaded the configuration, API keys, roles and TLS certificates")
	}
	s.audit.record(nil, principal{label: "operator (SIGHUP)"}, "reload", "config", "success", "")
	return nil
}

// reloadableKeys are the settings Reload applies while serving.
var reloadableKeys = []string{
	"server.log_level",
	"middleware.rate_limit_rps", "middleware.rate_limit_burst", "middleware.cors_origins",
	"network.tls_cert", "network.tls_key",
}

// restartNeeded lists the keys that differ between a and b and that Reload
// does not apply.
func restartNeeded(a, b *config.Config) []string {
	var out []string
	for _, key := range config.Changed(a, b) {
		if !strings.HasPrefix(key, "auth.") && !strings.HasPrefix(key, "authz.") && !slices.Contains(reloadableKeys, key) {
			out = append(out, key)
		}
	}
	return out
}
