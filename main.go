// Command amaters-server is a key-value database server: one static binary
// with an HTTP API, a health and Prometheus metrics listener, and a
// flag-based command line. See README.md and API.md for the contract.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"amaters-server/server"
	"amaters-server/server/backup"
	"amaters-server/server/client"
	"amaters-server/server/config"
	"amaters-server/server/loadgen"
)

// Exit codes of API.md §1.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `amaters-server: a key-value database server

Usage:
  amaters-server start [--config FILE] [--data-dir DIR] [--bind HOST:PORT]
                       [--log-level LEVEL] [--engine lsm|memory] [--health-port PORT]
  amaters-server --config FILE                 same as start --config FILE
  amaters-server validate-config --config FILE [--show]
  amaters-server status --addr HOST:PORT [--format human|json] [auth flags]
  amaters-server stop --addr HOST:PORT [--timeout 30s] [auth flags]
  amaters-server bench --addr HOST:PORT [--clients 64] [--duration 30s | --requests N]
                       [--workload get|put|mixed:90/10|range|batch] [--keys 100000]
                       [--value-size 100] [--format human|json] [auth flags]
  amaters-server backup --addr HOST:PORT --out FILE [--timeout 1m] [auth flags]
  amaters-server restore --from FILE --data-dir DIR
  amaters-server version

Auth flags (status, stop, bench, backup): --token JWT, --api-key KEY, --api-key-header NAME,
  --cacert FILE, --cert FILE, --key FILE, --insecure-skip-verify.
  AMATERS_TOKEN and AMATERS_API_KEY are read when the flags are not given.

Run "amaters-server COMMAND -h" for a command's flags.
Exit codes: 0 success, 1 failure, 2 bad command line.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and output.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	if strings.HasPrefix(cmd, "-") {
		switch cmd {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		cmd, rest = "start", args // the bare "--config F" form
	}
	switch cmd {
	case "start":
		return cmdStart(ctx, rest, env, stdout, stderr)
	case "validate-config":
		return cmdValidate(rest, env, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, env, stdout, stderr)
	case "stop":
		return cmdStop(ctx, rest, env, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, env, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, env, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "amaters-server: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// parseFlags parses a subcommand's flags; it returns an exit code and false
// when the program should stop (help or a bad flag).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "amaters-server %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: amaters-server %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// configFlags are the flags shared by start and validate-config.
type configFlags struct {
	config string
	o      config.Overrides
}

func (c *configFlags) register(fs *flag.FlagSet, overrides bool) {
	fs.StringVar(&c.config, "config", "", "configuration `file` (TOML); none = embedded defaults")
	if !overrides {
		return
	}
	fs.StringVar(&c.o.DataDir, "data-dir", "", "data `folder` (server.data_dir)")
	fs.StringVar(&c.o.Bind, "bind", "", "API listen `address` HOST:PORT (server.bind_address)")
	fs.StringVar(&c.o.LogLevel, "log-level", "", "log `level`: debug, info, warn, error (server.log_level)")
	fs.StringVar(&c.o.Engine, "engine", "", "storage `engine`: lsm or memory (storage.engine)")
	fs.StringVar(&c.o.HealthPort, "health-port", "", "health and metrics `port` (health.http_port)")
}

// fromFlags reports whether any problem in err is in a command-line flag.
func fromFlags(err error) bool {
	for _, e := range config.Problems(err) {
		var ce *config.Error
		if errors.As(e, &ce) && strings.HasPrefix(ce.Where, "flag ") {
			return true
		}
	}
	return false
}

func printConfigErrors(w io.Writer, err error) {
	for _, e := range config.Problems(err) {
		fmt.Fprintln(w, e.Error())
	}
}

func cmdStart(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("start", "[flags]")
	var cf configFlags
	cf.register(fs, true)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := config.Load(cf.config, env, cf.o)
	if err == nil {
		err = server.Validate(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, "amaters-server: invalid configuration:")
		printConfigErrors(stderr, err)
		if fromFlags(err) {
			return exitUsage // a bad flag value is a bad flag
		}
		return exitFail
	}
	logOut, err := server.OpenLog(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server: open log file: %v\n", err)
		return exitFail
	}
	// The log closes last, after the shutdown has been logged.
	defer logOut.Close()
	log := logOut.Logger
	srv, err := server.New(cfg, server.Options{
		Log: logOut,
		// SIGHUP loads the same file, environment and flags again.
		Reload:       func() (config.Config, error) { return config.Load(cf.config, env, cf.o) },
		NotifySocket: getenv(env, "NOTIFY_SOCKET"),
		Watchdog:     watchdogInterval(env),
	})
	if err != nil {
		fmt.Fprintln(stderr, "amaters-server: invalid configuration:")
		printConfigErrors(stderr, err)
		return exitFail
	}
	// The first SIGINT/SIGTERM cancels ctx and starts the graceful
	// shutdown; a second one ends the process at once (the WAL keeps
	// acknowledged data safe). Both go through one channel rather than
	// signal.NotifyContext's stop(), so a second signal that arrives
	// right after the first is never swallowed.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
			return
		}
		sig := <-sigs
		log.Warn("second signal; exiting without finishing the drain", "signal", sig.String())
		code := 128 + int(syscall.SIGTERM)
		if sig == os.Interrupt {
			code = 128 + int(syscall.SIGINT)
		}
		srv.Abandon()
		logOut.Close() // flush what is buffered
		os.Exit(code)
	}()
	// SIGHUP reloads the configuration (see server.Reload); a bad one is
	// refused (logged and audited) and the previous one stays in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				srv.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := srv.Run(ctx); err != nil {
		if cfg.Logging.File != "" { // else the log is stderr already
			log.Error("server stopped with an error", "error", err.Error())
		}
		fmt.Fprintf(stderr, "amaters-server: %v\n", err)
		return exitFail
	}
	return exitOK
}

func cmdValidate(args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate-config", "--config FILE [--show]")
	var cf configFlags
	cf.register(fs, true)
	show := fs.Bool("show", false, "print the effective configuration as TOML (secrets redacted)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := config.Load(cf.config, env, cf.o)
	err = errors.Join(err, server.Validate(cfg))
	if err != nil {
		printConfigErrors(stdout, err)
		return exitFail
	}
	if *show {
		stdout.Write(cfg.MarshalTOML())
		return exitOK
	}
	fmt.Fprintln(stdout, "configuration OK")
	return exitOK
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintf(stdout, "amaters-server %s (%s %s/%s, commit %s)\n", server.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, commit())
	return exitOK
}

// buildCommit is set at link time by builds without VCS information (such
// as deploy/Dockerfile): -ldflags "-X main.buildCommit=abc1234". It is
// never written at run time.
var buildCommit string

// commit returns the short VCS revision: the one stamped by -ldflags, else
// the one go build recorded, else "unknown".
func commit() string {
	if buildCommit != "" {
		return buildCommit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return s.Value[:7]
		}
	}
	return "unknown"
}

// clientFlags are the connection and auth flags of status and stop.
type clientFlags struct {
	addr string
	o    client.Options
	env  []string
}

// register adds the flags to fs. The credentials' defaults come from the
// environment, but only in options(), after parsing: a flag's default is
// printed by -h and by every usage error, and a secret must not be.
func (c *clientFlags) register(fs *flag.FlagSet, env []string) {
	c.env = env
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7878", "server API `address` HOST:PORT or URL")
	fs.StringVar(&c.o.Token, "token", "", "bearer `JWT` (default $AMATERS_TOKEN)")
	fs.StringVar(&c.o.APIKey, "api-key", "", "API `key` (default $AMATERS_API_KEY)")
	fs.StringVar(&c.o.APIKeyHeader, "api-key-header", "X-API-Key", "header `name` for --api-key")
	fs.StringVar(&c.o.CACert, "cacert", "", "CA certificate `file` (PEM) to verify the server; selects https")
	fs.StringVar(&c.o.Cert, "cert", "", "client certificate `file` (PEM) for mTLS")
	fs.StringVar(&c.o.Key, "key", "", "client key `file` (PEM) for mTLS")
	fs.BoolVar(&c.o.Insecure, "insecure-skip-verify", false, "do not verify the server's certificate; selects https")
}

// options returns the client options: the flags, with the credentials
// not given as flags taken from $AMATERS_TOKEN and $AMATERS_API_KEY.
func (c *clientFlags) options() client.Options {
	o := c.o
	if o.Token == "" {
		o.Token = getenv(c.env, "AMATERS_TOKEN")
	}
	if o.APIKey == "" {
		o.APIKey = getenv(c.env, "AMATERS_API_KEY")
	}
	return o
}

func getenv(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func cmdStatus(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "--addr HOST:PORT [--format human|json] [--timeout 15s] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	format := fs.String("format", "human", "output `format`: human or json")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to try, retries included")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "amaters-server status: --timeout must be positive\n")
		return exitUsage
	}
	// A server that accepts connections and never answers must not hold a
	// health check for the retries' worth of per-request timeouts.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *format != "human" && *format != "json" {
		fmt.Fprintf(stderr, "amaters-server status: --format must be human or json\n")
		return exitUsage
	}
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server status: %v\n", err)
		return exitUsage
	}
	resp, err := c.Do(ctx, "GET", "/v1/status", nil)
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server status: %s is not reachable: %v\n", cf.addr, err)
		return exitFail
	}
	if resp.Status != 200 {
		fmt.Fprintf(stderr, "amaters-server status: %s answered %d: %s\n", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))
		return exitFail
	}
	var st client.Status
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		fmt.Fprintf(stderr, "amaters-server status: %s answered something that is not a status: %v\n", cf.addr, err)
		return exitFail
	}
	if *format == "json" {
		stdout.Write(resp.Body)
	} else {
		fmt.Fprintf(stdout, "%s %s at %s: %s (engine %s, up %s, %d connections)\n",
			st.Name, st.Version, cf.addr, st.State, st.Engine,
			time.Duration(st.UptimeSeconds)*time.Second, st.Connections)
	}
	if st.State != "serving" {
		return exitFail
	}
	return exitOK
}

func cmdStop(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("stop", "--addr HOST:PORT [--timeout 30s] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the server to stop")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server stop: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := c.Do(ctx, "POST", "/v1/admin/shutdown", nil)
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server stop: %s is not reachable: %v\n", cf.addr, err)
		return exitFail
	}
	if resp.Status != 202 {
		fmt.Fprintf(stderr, "amaters-server stop: %s refused: %d %s\n", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))
		return exitFail
	}
	// The API port closes first, when the drain starts; the health port
	// when the storage is closed, just before the process exits. Wait for
	// both, so that `stop && start` finds the data folder free. (The
	// health port is waited for only when it answers from here: behind a
	// port forward it may not.)
	healthAddr := ""
	if host, _, err := net.SplitHostPort(c.HostPort()); err == nil && resp.Header.Get(client.HealthPortHeader) != "" {
		healthAddr = net.JoinHostPort(host, resp.Header.Get(client.HealthPortHeader))
		if conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", healthAddr); err != nil {
			healthAddr = ""
		} else {
			conn.Close()
		}
	}
	if err := client.WaitDown(ctx, c.HostPort()); err != nil {
		fmt.Fprintf(stderr, "amaters-server stop: %s still answers after %s\n", cf.addr, *timeout)
		return exitFail
	}
	if healthAddr != "" {
		if err := client.WaitDown(ctx, healthAddr); err != nil {
			fmt.Fprintf(stderr, "amaters-server stop: %s stopped serving, but is still finishing (its health port %s answers) after %s\n", cf.addr, healthAddr, *timeout)
			return exitFail
		}
	}
	fmt.Fprintf(stdout, "amaters-server at %s stopped\n", cf.addr)
	return exitOK
}

// watchdogInterval reads systemd's $WATCHDOG_USEC (microseconds), when it is
// meant for this process ($WATCHDOG_PID unset or ours).
func watchdogInterval(env []string) time.Duration {
	if pid := getenv(env, "WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseInt(getenv(env, "WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

func cmdBench(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "--addr HOST:PORT [flags]")
	var cf clientFlags
	cf.register(fs, env)
	o := loadgen.Options{}
	fs.IntVar(&o.Clients, "clients", 64, "concurrent clients, each on its own kept-alive connection")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to run (default 10s when --requests is not given)")
	fs.IntVar(&o.Requests, "requests", 0, "how many requests to send in all (0 = bounded by --duration)")
	workload := fs.String("workload", "get", "`workload`: get, put, mixed:R/W (e.g. mixed:90/10), range or batch")
	fs.IntVar(&o.Keys, "keys", 100000, "size of the key set (preloaded for reads)")
	fs.IntVar(&o.ValueSize, "value-size", 100, "value size in bytes")
	fs.StringVar(&o.Collection, "collection", "bench", "collection to use")
	fs.IntVar(&o.BatchSize, "batch-size", 100, "ops per batch for --workload batch")
	format := fs.String("format", "human", "output `format`: human or json")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	o.Addr, o.Client, o.Workload = cf.addr, cf.options(), *workload
	// A target other than loopback only when the address was typed.
	fs.Visit(func(f *flag.Flag) { o.AddrExplicit = o.AddrExplicit || f.Name == "addr" })
	if *format != "human" && *format != "json" {
		fmt.Fprintln(stderr, "amaters-server bench: --format must be human or json")
		return exitUsage
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "amaters-server bench: %v\n", err)
		return exitUsage
	}
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "amaters-server bench: %v\n", err)
		return exitFail
	}
	if *format == "json" {
		out, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		res.WriteHuman(stdout)
	}
	if res.Ops == 0 {
		return exitFail
	}
	return exitOK
}

// isTerminal reports whether w is a character device (a terminal), where a
// live progress line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func cmdBackup(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backup", "--addr HOST:PORT --out FILE [--timeout 1m] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	out := fs.String("out", "", "backup `file` to write; must not exist (FILE.partial is written first)")
	timeout := fs.Duration("timeout", time.Minute, "give up when the server sends nothing for this long")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *out == "" || *timeout <= 0 {
		fmt.Fprintln(stderr, "amaters-server backup: --out FILE is required, and --timeout must be positive")
		return exitUsage
	}
	cf.o.Timeout = *timeout
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server backup: %v\n", err)
		return exitUsage
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	start := time.Now()
	pl := newProgressLine(stderr, "saving", start)
	info, n, err := c.Backup(ctx, *out, pl.update)
	pl.clear()
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server backup: no backup saved: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "backup of %s saved to %s: %d files, %s, last sequence %d, in %s; every BLAKE3 checksum verified\n",
		cf.addr, *out, info.Files, backup.FormatBytes(n), info.LastSequence, time.Since(start).Round(time.Millisecond))
	return exitOK
}

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("restore", "--from FILE --data-dir DIR")
	from := fs.String("from", "", "backup `file` written by the backup command")
	dir := fs.String("data-dir", "", "data `folder` to restore into; must not exist or be empty")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *from == "" || *dir == "" {
		fmt.Fprintln(stderr, "amaters-server restore: --from FILE and --data-dir DIR are required")
		return exitUsage
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	start := time.Now()
	pl := newProgressLine(stderr, "restoring", start)
	info, err := backup.Restore(ctx, *from, *dir, pl.update)
	pl.clear()
	if err != nil {
		fmt.Fprintf(stderr, "amaters-server restore: nothing restored: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "restored %d files (%s, last sequence %d) of a backup taken %s by amaters-server %s into %s in %s; every BLAKE3 checksum verified\n",
		info.Files, backup.FormatBytes(info.Bytes), info.LastSequence, info.Created.Format(time.RFC3339), info.ServerVersion,
		filepath.Join(*dir, "db"), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "next: start the server with server.data_dir = %q (amaters-server start --data-dir %s --engine lsm); its storage.wal_dir must be new or empty\n", *dir, *dir)
	return exitOK
}

// interruptible is ctx cancelled by the first SIGINT or SIGTERM (the
// command then cleans up and exits 1); a second signal ends the process
// at once.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// progressLine redraws one progress line on a terminal, at most four
// times a second; elsewhere it stays silent. Its methods accept a nil
// receiver, which is what newProgressLine returns off a terminal.
type progressLine struct {
	w           io.Writer
	verb        string
	start, last time.Time
	width       int // of the line drawn last, 0 when none is
}

func newProgressLine(w io.Writer, verb string, start time.Time) *progressLine {
	if !isTerminal(w) {
		return nil
	}
	// The first line waits a quarter of a second, for a rate worth showing.
	return &progressLine{w: w, verb: verb, start: start, last: start}
}

func (p *progressLine) update(pr backup.Progress) {
	if p == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond && pr.Done != pr.Total {
		return
	}
	p.last = now
	line := pr.Line(p.verb, now.Sub(p.start))
	fmt.Fprintf(p.w, "\r%-*s", p.width, line)
	p.width = len(line)
}

// clear erases the line, so that the summary replaces it.
func (p *progressLine) clear() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	p.width = 0
}
