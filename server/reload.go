package server

import (
	"log/slog"
	"slices"
	"strings"

	"amaters-server/server/config"
)

// Reload is what SIGHUP does. It reopens the log and audit files, then
// loads the configuration again (Options.LoadConfig), validates all of it,
// and applies what can change while serving: authentication and roles
// (keys, secrets, files), TLS certificate and client CAs, log level, rate
// limits and CORS origins. Settings that need a restart are named in a
// warning and keep their running values.
//
// An invalid configuration changes nothing: the reload is audited and its
// problems are returned (each a *config.Error), not logged; the caller
// reports them (Run logs those of a SIGHUP). A log file that cannot be
// reopened is logged and does not stop the reload. Reload returns
// [ErrNotRunning] before Run serves and after it has stopped. Reloads run
// one at a time.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if st := s.state.Load(); st != stateServing && st != stateDraining {
		return ErrNotRunning
	}
	// Log files first: after an external logrotate moved them, the lines
	// about this reload belong in the new files.
	if err := s.logOut.Reopen(); err != nil {
		s.log.Error("reopen log file", slog.String("error", err.Error()))
	}
	if err := s.accessOut.Reopen(); err != nil {
		s.log.Error("reopen access log file", slog.String("error", err.Error()))
	}
	if err := s.audit.Reopen(); err != nil {
		s.log.Error("reopen audit log", slog.String("error", err.Error()))
	}
	old := s.live.Load()
	cfg := *old.cfg
	var err error
	if s.opts.LoadConfig != nil {
		cfg, err = s.opts.LoadConfig()
	}
	var next *live
	if err == nil {
		next, err = check(&cfg, s.now)
	}
	if err != nil {
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
	// Open watches keep their access only if the new roles still grant it.
	s.revokeWatches(next.policy)
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
