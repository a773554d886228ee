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
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"amaters-server/server/watch"
)

// Run owns the server's whole life. It opens the log output, locks the
// data folder and writes the pid file (lock.go), binds the listeners (a
// busy port fails at once), opens the audit log, serves health, opens the
// storage (recovery), serves the API and then announces readiness: [Server.Ready] closes, /readyz says
// ok, systemd hears READY=1. Everything a request or a reload touches is
// set before that.
//
// It serves until ctx ends, a shutdown is requested (SIGINT or SIGTERM on
// Options.Signals, [Server.RequestShutdown], or POST /v1/admin/shutdown),
// or a listener fails, reloading on each SIGHUP meanwhile. Then it shuts
// down as API.md §6 says: readiness off, the API listener closed,
// in-flight requests drained within server.shutdown_timeout_ms, the
// storage closed (for lsm: memtable flushed, log synced), the audit log
// closed, the pid file removed and the data folder's lock released, then
// the health listener and the log closed last.
//
// It returns nil after a clean shutdown, or the error that prevented
// starting or stopping cleanly. Run is called once.
func (s *Server) Run(ctx context.Context) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("server: Run called twice")
	}
	if s.opts.Logger == nil {
		out, oerr := openLog(s.cfg, s.opts.Stderr)
		if oerr != nil {
			return fmt.Errorf("open log file: %w", oerr)
		}
		s.logOut, s.log, s.access, s.fastAccess, s.level = out, out.logger, out.logger, out.access, out.level
		defer func() {
			if err != nil && out.file != nil {
				// The log file is the daemon's record of its life, and
				// the caller, which gets err, writes elsewhere (main:
				// stderr): the one error told in both places.
				s.log.Error("server stopped with an error", slog.String("error", err.Error()))
			}
			out.Close()
		}()
	}
	if s.cfg.Observability.AccessLog && s.cfg.Observability.AccessLogFile != "" {
		out, oerr := openAccessLog(s.cfg, s.opts.Stderr)
		if oerr != nil {
			return oerr
		}
		s.accessOut, s.fastAccess = out, out.access
		defer out.Close()
	}
	s.notify = notifier{socket: s.opts.NotifySocket, watchdog: s.opts.Watchdog, log: s.log}

	// The signal watcher runs from the start, so that a second signal
	// ends even a long recovery; what it asks of Run waits in term and
	// hup until Run serves.
	term := make(chan os.Signal, 1)
	hup := make(chan struct{}, 1)
	if s.opts.Signals != nil {
		stop := make(chan struct{})
		var sw sync.WaitGroup
		sw.Go(func() { s.watchSignals(stop, term, hup) })
		defer func() { close(stop); sw.Wait() }()
	}

	host, _, _ := net.SplitHostPort(s.cfg.Server.BindAddress)

	// Listen first, so a port in use fails at once, before recovery and
	// before anything is created on disk.
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
	limitLn := newLimitListener(rawAPILn, int(s.cfg.Network.MaxConnections), int(s.cfg.Network.MaxConnectionsPerIP),
		func(reason string) { s.metrics.connsClosed.With(reason).Inc() })
	limitLn.framing = s.live.Load().tls == nil
	limitLn.netErr = s.countNetErr
	var apiLn net.Listener = limitLn
	defer apiLn.Close()

	// The data folder only once the ports are ours: a start refused for a
	// busy port leaves nothing behind.
	if err := os.MkdirAll(s.cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	// The data folder and the pid file are this server's alone (lock.go):
	// a second server on either is refused before it touches anything.
	dataLock, err := lockDataDir(s.cfg.Server.DataDir)
	if err != nil {
		return err
	}
	var pidLock io.Closer
	if s.cfg.Server.PIDFile != "" {
		if pidLock, err = writePIDFile(s.cfg.Server.PIDFile); err != nil {
			dataLock.Close()
			return err
		}
	}
	// Released once the storage is closed, before the health listener
	// goes: when `stop` sees the ports close, another server (or check)
	// may take the folder at once.
	releaseLocks := sync.OnceFunc(func() {
		if pidLock != nil {
			removePIDFile(s.cfg.Server.PIDFile, s.log)
			pidLock.Close()
		}
		dataLock.Close()
	})
	defer releaseLocks()

	// The audit log before any handler runs: /health reports on it.
	if s.cfg.Audit.Enabled {
		if s.audit, err = openAuditLog(s.cfg.AuditFile(), rotationOptions(&s.cfg, s.now), s.now, s.log); err != nil {
			return err
		}
		defer s.audit.Close()
	}

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

	// storage.memory_limit_mb: the Go runtime's soft limit, for the
	// process's life (the heap beyond it is collected more eagerly).
	if mb := s.cfg.Storage.MemoryLimitMB; mb > 0 {
		prev := debug.SetMemoryLimit(mb << 20)
		defer debug.SetMemoryLimit(prev)
	}

	// The change feed's hub before the storage: the store publishes to it
	// from its first commit (an upgrade's, or an expiry's).
	hub := watch.New(watch.Options{
		BufferEvents: int(s.cfg.Watch.BufferEvents),
		MaxWatchers:  int(s.cfg.Watch.MaxWatchers),
		Keepalive:    s.cfg.Watch.Keepalive,
		MaxKeyBytes:  int(s.cfg.Storage.MaxKeyBytes),
		Logger:       s.log,
	})
	s.watch.Store(hub)
	defer hub.Close()

	if err := s.openStorage(ctx); err != nil {
		return err
	}
	storageClosed := false
	defer func() {
		if !storageClosed {
			s.store.Close()
		}
	}()

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
		ConnContext:    connContext,
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
	go limitLn.shedLoop(s.pressureIdle()) // ends when the listener closes

	s.mu.Lock()
	s.apiAddr, s.healthAddr = rawAPILn.Addr().String(), healthLn.Addr().String()
	s.mu.Unlock()
	// Readiness publishes everything above (the store, the audit log):
	// Reload and the handlers read them only after they see it.
	s.state.Store(stateServing)
	close(s.ready)
	s.notify.send("READY=1\nSTATUS=serving")
	wdctx, stopWatchdog := context.WithCancel(ctx)
	wg.Go(func() { s.notify.runWatchdog(wdctx) })
	s.logServing()

	runErr := s.serveUntilShutdown(ctx, term, hup, serveErr)

	// §6: readiness off, listeners closed, in-flight requests drained.
	s.state.Store(stateDraining)
	stopWatchdog()
	s.notify.send("STOPPING=1\nSTATUS=draining")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	// Watches end first, with their "unavailable" event: Shutdown waits
	// for their handlers.
	hub.Close()
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
	// No reload is under way, or starts, once Run (in its deferred calls)
	// closes what a reload touches.
	s.stopped()
	s.audit.Close()
	releaseLocks()
	if runErr == nil {
		s.log.Info("stopped cleanly")
	}
	return runErr
}

// serveUntilShutdown waits for the reason to shut down, reloading on each
// SIGHUP meanwhile, and returns a listener's failure, if that is the
// reason.
func (s *Server) serveUntilShutdown(ctx context.Context, term <-chan os.Signal, hup <-chan struct{}, serveErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			s.log.Info("shutdown requested", slog.String("reason", context.Cause(ctx).Error()))
			return nil
		case sig := <-term:
			s.log.Info("shutdown requested by signal", slog.String("signal", sig.String()))
			return nil
		case <-s.shutdown:
			s.log.Info("shutdown requested through the admin API")
			return nil
		case err := <-serveErr:
			s.log.Error("listener failed; shutting down", slog.String("error", err.Error()))
			return err
		case <-hup:
			// Run has no caller to hand a refused reload to: it is logged
			// here (Reload audits it), told to systemd, and the server
			// goes on.
			s.notify.reloading()
			err := s.Reload()
			if err != nil {
				s.log.Error("reload refused; the previous configuration stays in force", slog.String("error", err.Error()))
			}
			s.notify.reloaded(err)
		}
	}
}

// watchSignals reads Options.Signals until stop is closed. SIGHUP is
// passed on to hup, where Run takes it once it serves (several while one
// waits make one reload). The first SIGINT or SIGTERM is passed on to term;
// a second one abandons the process.
func (s *Server) watchSignals(stop <-chan struct{}, term chan<- os.Signal, hup chan<- struct{}) {
	sigs := s.opts.Signals
	terms := 0
	for {
		select {
		case <-stop:
			return
		case sig, ok := <-sigs:
			if !ok {
				sigs = nil // closed: no more signals, wait for stop
				continue
			}
			switch sig {
			case syscall.SIGHUP:
				select {
				case hup <- struct{}{}:
				default:
				}
			case os.Interrupt, syscall.SIGTERM:
				if terms++; terms == 1 {
					term <- sig // buffered for this one send
					continue
				}
				s.abandon(sig)
			}
		}
	}
}

// abandon ends the process at a second SIGINT or SIGTERM without finishing
// the drain. The storage is left as a crash would leave it, which the
// write-ahead log makes safe; the pid file goes, as at a normal exit, and
// what the log buffers is written out.
func (s *Server) abandon(sig os.Signal) {
	s.log.Warn("second signal; exiting without finishing the drain", slog.String("signal", sig.String()))
	if s.cfg.Server.PIDFile != "" {
		removePIDFile(s.cfg.Server.PIDFile, s.log)
	}
	s.logOut.Flush()
	s.accessOut.Flush()
	code := 128 + int(syscall.SIGTERM)
	if n, ok := sig.(syscall.Signal); ok {
		code = 128 + int(n)
	}
	s.opts.Exit(code)
}

// stopped marks the server stopped, waiting for a reload under way to
// finish first.
func (s *Server) stopped() {
	s.reloadMu.Lock()
	s.state.Store(stateStopped)
	s.reloadMu.Unlock()
}

// logServing logs that the server serves, and warns about an open door.
func (s *Server) logServing() {
	s.log.Info("serving",
		slog.String("name", s.opts.Name),
		slog.String("version", s.opts.Version),
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

// openStorage opens the engine and recovers its data. The built-in engine
// runs the expirer (server/store) until Close. The query cache is kept only
// for the built-in engine: an engine from Options.OpenEngine (a replicated
// one) may change under the server, by writes applied from other members,
// which the cache would not see.
func (s *Server) openStorage(ctx context.Context) error {
	var eng Engine
	var err error
	if s.opts.OpenEngine == nil {
		eng, err = openLSM(ctx, s.cfg, s.log, s.now, s.PublishCommitted)
	} else {
		eng, err = s.opts.OpenEngine(ctx, s.cfg, s.log)
		s.cache = nil
	}
	if err != nil {
		return err
	}
	s.eng.Store(&eng)
	s.store = newStore(eng, s.cache, s.metrics, s.now)
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
