package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/promtext"
	"amaters-server/server/config"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// Version is the server's release version.
const Version = "0.3.0"

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

// ErrNotRunning is returned by [Server.Reload] before [Server.Run] serves
// (a reload then would meet a half-started server; the configuration Run
// starts with is the newest anyway) and after Run has stopped.
var ErrNotRunning = errors.New("server: not running")

// Options are the dependencies of a Server that do not come from the
// configuration. The zero value is valid: logs go where the configuration
// says, and Run stops when its context ends or on POST /v1/admin/shutdown.
type Options struct {
	// Stderr is where the log goes when logging.file is not set, and where
	// lines go that the log file refuses. nil means os.Stderr.
	Stderr io.Writer
	// Logger, when set, receives all of the server's logs, and Run opens
	// no log output of its own (logging.file is ignored, and the log
	// level does not change on reload). For tests and embedding.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LoadConfig loads the configuration again (file, environment, flags)
	// for a reload; nil means a reload re-reads only the files the current
	// configuration names (keys, roles, certificates).
	LoadConfig func() (config.Config, error)
	// Signals, when not nil, is where Run receives the process's signals
	// (signal.Notify with syscall.SIGHUP, os.Interrupt and
	// syscall.SIGTERM), from the moment it starts: SIGHUP reloads (see
	// [Server.Reload]), once the server serves; SIGINT and SIGTERM start
	// the graceful shutdown, as ctx ending does; a second SIGINT or
	// SIGTERM ends the process at once (see Exit).
	Signals <-chan os.Signal
	// Exit ends the process on a second SIGINT or SIGTERM: Run logs it,
	// removes the pid file, flushes the log and calls Exit(128 + signal
	// number) rather than finishing the drain; the write-ahead log keeps
	// every acknowledged write. nil means os.Exit. If Exit returns, the
	// drain goes on.
	Exit func(code int)
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
	// on an in-memory file system. A replicated engine comes in here (see
	// "Guards, and where a replicated engine plugs in" in the package
	// doc); the query cache is off with an engine given here, whose state
	// other members change.
	OpenEngine func(ctx context.Context, cfg config.Config, log *slog.Logger) (Engine, error)

	// What an embedding program adds to the server (the cluster edition;
	// see "Extending the server" in the package doc and extension.go).
	// The API listener serves only once OpenEngine has returned, so
	// Routes, ResponseHeaders and HealthChecks (asked only while serving)
	// may use what it opened; the metric callbacks of RegisterMetrics
	// are read at every scrape, from the start of Run (the health
	// listener serves during recovery), and must cope with nothing open
	// yet.

	// Name and Version name the program in GET /v1/status, /health,
	// amaters_build_info and the "serving" log line (Version also in a
	// backup's header);
	// "" means "amaters-server" and [Version] (the cluster edition:
	// "amaters-server-cluster" and its own version).
	Name, Version string
	// Routes are extra API routes, served through the whole middleware
	// chain and authorized by their Permission (GET /v1/cluster, the
	// cluster's membership admin). New refuses a route that is malformed
	// or clashes with another.
	Routes []Route
	// ResponseHeaders, when set, is called with the headers of every API
	// answer before anything else writes them (the cluster edition's
	// Amaters-Leader). It runs for every request, from many goroutines at
	// once: it must be cheap, set only its own headers, and keep nothing.
	ResponseHeaders func(h http.Header)
	// RegisterMetrics, when set, is called once by New with the registry
	// of /metrics, after the server's own families, to register more
	// (callbacks read at scrape time, such as amaters_cluster_*). A name
	// that clashes is an error of New.
	RegisterMetrics func(reg *promtext.Registry)
	// HealthChecks are extra checks of /health and /readyz (see
	// [HealthCheck]).
	HealthChecks []HealthCheck
}

// Server is one amaters-server: the API listener, the health and metrics
// listener and the storage engine. Create it with New and run it once with
// Run. Its methods are safe for concurrent use.
type Server struct {
	cfg     config.Config
	opts    Options
	now     func() time.Time
	reg     *promtext.Registry
	metrics *metrics
	ids     *requestIDs
	cache   *queryCache // nil when the query cache is off
	gzip    gzipWriters
	bodies  *bodyBudget // network.max_inflight_body_mb; nil: none

	state   atomic.Int32
	started time.Time
	conns   atomic.Int64
	// lastBackup is when a backup last streamed whole (Unix seconds).
	lastBackup atomic.Int64
	running    atomic.Bool // Run was called

	// live is the state a reload replaces: authentication, authorization,
	// TLS, CORS, rate limits (see Reload).
	live atomic.Pointer[live]

	// Run sets these before it starts anything that reads them (the
	// handlers, the reload loop, the signal watcher) and never changes
	// them afterwards; Reload reads them only while the server runs (see
	// state and reloadMu).
	log    *slog.Logger
	access *slog.Logger // the access log when fastAccess is nil: log
	// fastAccess writes the access log into logOut's line buffer.
	fastAccess *accessWriter
	logOut     *logOutput     // nil with Options.Logger
	accessOut  *logOutput     // observability.access_log_file; nil without
	level      *slog.LevelVar // the log level; nil with Options.Logger
	notify     notifier
	audit      *auditLog // nil when audit.enabled = false
	store      *kvStore
	// watch is the change feed's hub (API.md §8), set by Run before the
	// storage opens and closed at its drain; read by the metrics from New
	// on (nil before Run: zero metrics).
	watch atomic.Pointer[watch.Hub]

	// eng is read by the metrics at every scrape, from New on.
	eng atomic.Pointer[Engine]
	// backupMu is held while a backup streams: at most one checkpoint is
	// open at a time, because each pins tables that compaction would
	// otherwise delete, so concurrent backups could hold several
	// versions' worth of disk.
	backupMu sync.Mutex

	// reloadMu serializes reloads, and Run's last state change with them:
	// once Run has stored stateStopped under it, no reload runs, and Run
	// may close the audit log and the log output.
	reloadMu sync.Mutex

	ready        chan struct{} // closed when serving
	shutdown     chan struct{} // closed by RequestShutdown
	shutdownOnce sync.Once

	mu         sync.Mutex // guards apiAddr and healthAddr
	apiAddr    string
	healthAddr string
}

// New checks cfg as [Validate] does, loading the files it names, and
// builds a Server; it opens nothing and starts nothing: Run does.
func New(cfg config.Config, opts Options) (*Server, error) {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Exit == nil {
		opts.Exit = os.Exit
	}
	if opts.Name == "" {
		opts.Name = "amaters-server"
	}
	if opts.Version == "" {
		opts.Version = Version
	}
	s := &Server{
		cfg:      cfg,
		opts:     opts,
		now:      opts.Now,
		reg:      promtext.NewRegistry(),
		ids:      newRequestIDs(),
		ready:    make(chan struct{}),
		shutdown: make(chan struct{}),
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
	// Until Run opens the configured log output (and for handlers called
	// without Run, in tests), the server logs to Logger, or to Stderr.
	s.log = opts.Logger
	if s.log == nil {
		s.log = newLogger(opts.Stderr, cfg, logLevel(cfg))
	}
	s.access = s.log
	if mb := cfg.Network.MaxInflightBodyMB; mb > 0 {
		s.bodies = newBodyBudget(mb<<20, bodyBudgetWait)
	}
	s.metrics = newMetrics(s.reg, s)
	s.cache = newQueryCache(&s.cfg, s.metrics, s.reg)
	registerStoreMetrics(s.reg, s)
	if err := errors.Join(s.checkExtensions(), s.registerExtraMetrics()); err != nil {
		return nil, err
	}
	return s, nil
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
		ho.ReplaceAttr = durationMillis
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

// PublishCommitted hands the events of one committed group to the watches
// (API.md §8). The built-in engine's store calls it after every commit; an
// engine from Options.OpenEngine (a replicated one) calls it with the
// events its local store.Store gives its OnCommit, in revision order, once
// each. It must not be called before OpenEngine runs; it does not block.
func (s *Server) PublishCommitted(events []store.Event) {
	if h := s.watch.Load(); h != nil {
		h.Publish(events)
	}
}

// PublishGap tells the watches that committed changes were not published
// (a replicated member installed a snapshot): each ends as a slow consumer
// at its first revision not delivered, and resumes from the history.
func (s *Server) PublishGap() {
	if h := s.watch.Load(); h != nil {
		h.Gap()
	}
}
