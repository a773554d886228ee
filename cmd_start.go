package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

// cmdStart runs the server in the foreground until SIGINT or SIGTERM (or
// POST /v1/admin/shutdown). server.Server.Run owns the lifecycle: the
// signals go to it, and it returns once the shutdown is complete.
func cmdStart(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("start", "[flags]")
	var cf configFlags
	cf.register(fs, true)
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	// A reload (SIGHUP) loads the same file, environment and flags again.
	load := func() (config.Config, error) { return config.Load(cf.config, env, cf.o) }
	cfg, err := load()
	sigs := make(chan os.Signal, 4)
	var srv *server.Server
	if err == nil {
		srv, err = server.New(cfg, server.Options{
			Stderr:       stderr,
			LoadConfig:   load,
			Signals:      sigs,
			NotifySocket: getenv(env, "NOTIFY_SOCKET"),
			Watchdog:     watchdogInterval(env),
		})
	}
	if err != nil {
		return invalidConfig(err)
	}
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("amaters-server: %w", err)
	}
	return nil
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
	fs.StringVar(&c.o.WALDir, "wal-dir", "", "write-ahead log `folder` (storage.wal_dir)")
}

// invalidConfig is the error of a configuration that start refuses: every
// problem on its line; a bad flag value is a bad command line (exit 2).
func invalidConfig(err error) error {
	var b strings.Builder
	b.WriteString("amaters-server: invalid configuration:")
	for _, e := range config.Problems(err) {
		b.WriteString("\n" + e.Error())
	}
	if fromFlags(err) {
		return usageError{b.String()}
	}
	return errors.New(b.String())
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
