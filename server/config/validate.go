package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// placeholderSecret is the value of auth.jwt_secret in the seed README's
// example; a server started with it would accept tokens anyone can forge.
const placeholderSecret = "change-me"

// roleName is the shape of a role name in the configuration and roles file.
var roleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// Validate checks every value and every rule between values, and that
// the files the configuration names (keys, certificates, roles) exist and
// can be read, and returns all problems at once, joined, each an *Error
// naming where the value came from. What those files hold is the server's
// to check, when it loads them (server.Validate, server.New).
func (c *Config) Validate() error {
	v := validator{c: c}

	v.hostPort("server.bind_address", c.Server.BindAddress)
	v.nonEmpty("server.data_dir", c.Server.DataDir)
	v.notAFile("server.data_dir", c.Server.DataDir)
	if c.Storage.WALDir != "" {
		v.notAFile("storage.wal_dir", c.Storage.WALDir)
	}
	v.oneOf("server.log_level", c.Server.LogLevel, "debug", "info", "warn", "error")
	// Every folder start writes in must be writable (or creatable) now,
	// so that validate-config says so, naming the folder, rather than
	// start failing halfway.
	if strings.TrimSpace(c.Server.DataDir) != "" {
		v.writable("server.data_dir", c.Server.DataDir)
	}
	if c.Storage.WALDir != "" {
		v.writable("storage.wal_dir", c.Storage.WALDir)
	}
	if c.Logging.File != "" {
		v.writable("logging.file", filepath.Dir(c.Logging.File))
	}
	if c.Audit.Enabled && c.Audit.File != "" {
		v.writable("audit.file", filepath.Dir(c.Audit.File))
	}
	if c.Server.PIDFile != "" {
		v.writable("server.pid_file", filepath.Dir(c.Server.PIDFile))
	}
	if f := c.Observability.AccessLogFile; f != "" {
		v.writable("observability.access_log_file", filepath.Dir(f))
		// Two writers rotating one file lose lines and backups.
		others := []struct{ key, path string }{{"logging.file", c.Logging.File}}
		if c.Audit.Enabled {
			others = append(others, struct{ key, path string }{"audit.file", c.AuditFile()})
		}
		for _, other := range others {
			if other.path != "" && filepath.Clean(other.path) == filepath.Clean(f) {
				v.clash("observability.access_log_file", other.key, fmt.Sprintf("%s is also %s; give the access log its own file (or leave it unset to share the server log's output)", f, other.key))
			}
		}
	}

	v.oneOf("storage.engine", c.Storage.Engine, "lsm", "memory")
	v.between("storage.cache_size_mb", c.Storage.CacheSizeMB, 0, 1<<20)
	v.between("storage.compaction_threads", c.Storage.CompactionThreads, 1, 64)
	v.between("storage.memtable_size_mb", c.Storage.MemtableSizeMB, 1, 1<<16)
	v.oneOf("storage.sync", c.Storage.Sync, "always", "interval", "none")
	if c.Storage.Sync == "interval" && c.Storage.SyncInterval <= 0 {
		v.add("storage.sync_interval_ms", "must be at least 1 when storage.sync = \"interval\"")
	}
	v.between("storage.max_key_bytes", c.Storage.MaxKeyBytes, 1, 65535)
	v.between("storage.max_value_bytes", c.Storage.MaxValueBytes, 0, 1<<30)
	v.oneOf("storage.compression", c.Storage.Compression, "snappy", "none")
	v.between("storage.memory_limit_mb", c.Storage.MemoryLimitMB, 0, 1<<24)

	v.oneOf("auth.jwt_algorithm", c.Auth.JWTAlgorithm, "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA")
	hmacAlg := strings.HasPrefix(c.Auth.JWTAlgorithm, "HS")
	if s := string(c.Auth.JWTSecret); s != "" {
		minLen := 32
		if n, err := strconv.Atoi(strings.TrimPrefix(c.Auth.JWTAlgorithm, "HS")); hmacAlg && err == nil {
			minLen = n / 8 // RFC 7518 §3.2: a key at least as long as the hash output
		}
		switch {
		case s == placeholderSecret:
			v.add("auth.jwt_secret", `is the placeholder "change-me"; set a random secret of at least 32 bytes (e.g. openssl rand -base64 48)`)
		case len(s) < minLen:
			v.add("auth.jwt_secret", fmt.Sprintf("is %d bytes; %s needs at least %d", len(s), c.Auth.JWTAlgorithm, minLen))
		}
		if !hmacAlg && c.Auth.JWTAlgorithm != "" {
			v.add("auth.jwt_secret", fmt.Sprintf("is for the HS* algorithms, but auth.jwt_algorithm is %s; set auth.jwt_public_key instead", c.Auth.JWTAlgorithm))
		}
	}
	if c.Auth.JWTPublicKey != "" {
		v.file("auth.jwt_public_key", c.Auth.JWTPublicKey)
		if hmacAlg {
			v.add("auth.jwt_public_key", fmt.Sprintf("is for RS*, ES* and EdDSA, but auth.jwt_algorithm is %s", c.Auth.JWTAlgorithm))
		}
	} else if !hmacAlg && c.Auth.JWTSecret == "" && v.isSet("auth.jwt_algorithm") {
		v.add("auth.jwt_algorithm", fmt.Sprintf("%s needs auth.jwt_public_key", c.Auth.JWTAlgorithm))
	}
	v.headerName("auth.api_key_header", c.Auth.APIKeyHeader)
	v.file("auth.api_keys_file", c.Auth.APIKeysFile)
	v.file("auth.mtls_ca_cert", c.Auth.MTLSCACert)

	v.file("authz.roles_file", c.Authz.RolesFile)
	if !roleName.MatchString(c.Authz.DefaultRole) {
		v.add("authz.default_role", fmt.Sprintf("%q is not a role name", c.Authz.DefaultRole))
	} else if c.Authz.RolesFile == "" && !slices.Contains([]string{"admin", "user", "reader"}, c.Authz.DefaultRole) {
		v.add("authz.default_role", fmt.Sprintf("%q is not a built-in role (admin, user, reader) and no authz.roles_file is set", c.Authz.DefaultRole))
	}

	v.between("middleware.rate_limit_rps", c.Middleware.RateLimitRPS, 0, 1e9)
	v.between("middleware.rate_limit_burst", c.Middleware.RateLimitBurst, 0, 1e9)
	for _, o := range c.Middleware.CORSOrigins {
		v.origin("middleware.cors_origins", o)
	}
	v.between("middleware.max_body_bytes", c.Middleware.MaxBodyBytes, 0, 2<<30)

	v.between("cache.max_entries", c.Cache.MaxEntries, 0, 1<<30)
	v.between("cache.max_bytes", c.Cache.MaxBytes, 0, 1<<40)
	v.between("watch.history_revisions", c.Watch.HistoryRevisions, 0, 1<<40)
	v.between("watch.buffer_events", c.Watch.BufferEvents, 1, 1<<24)
	v.between("watch.max_watchers", c.Watch.MaxWatchers, 1, 1<<20)
	if c.Watch.Keepalive < time.Second {
		v.add("watch.keepalive_ms", "must be at least 1000: keepalives hold idle streams open through proxies")
	}

	v.port("health.http_port", c.Health.HTTPPort)
	v.port("observability.metrics_port", c.Observability.MetricsPort)
	// The health and metrics listeners use the API's host, so their ports
	// must differ from its port (port 0 picks a free one for each).
	if _, apiPort, err := net.SplitHostPort(c.Server.BindAddress); err == nil {
		if p, _ := strconv.ParseInt(apiPort, 10, 64); p != 0 {
			if p == c.Health.HTTPPort {
				v.clash("health.http_port", "server.bind_address", fmt.Sprintf("%d is also the API port of server.bind_address", p))
			}
			if mp := c.Observability.MetricsPort; mp == p && mp != c.Health.HTTPPort {
				v.clash("observability.metrics_port", "server.bind_address", fmt.Sprintf("%d is also the API port of server.bind_address", p))
			}
		}
	}

	v.between("network.max_connections", c.Network.MaxConnections, 1, 1<<20)
	v.between("network.max_connections_per_ip", c.Network.MaxConnectionsPerIP, 0, 1<<20)
	v.between("network.max_inflight_body_mb", c.Network.MaxInflightBodyMB, 1, 1<<20)
	if need := (c.MaxBodyBytes() + 1<<20 - 1) >> 20; c.Network.MaxInflightBodyMB >= 1 && c.Network.MaxInflightBodyMB < need {
		v.add("network.max_inflight_body_mb", fmt.Sprintf("is %d MiB, less than one body of middleware.max_body_bytes (%d MiB); set at least %d", c.Network.MaxInflightBodyMB, need, need))
	}
	if c.Network.ReadHeaderTimeout <= 0 {
		v.add("network.read_header_timeout_ms", "must be at least 1 (it guards against slowloris clients)")
	}
	switch {
	case c.Network.TLSCert != "" && c.Network.TLSKey == "":
		v.add("network.tls_cert", "is set but network.tls_key is not; set both or neither")
	case c.Network.TLSCert == "" && c.Network.TLSKey != "":
		v.add("network.tls_key", "is set but network.tls_cert is not; set both or neither")
	}
	v.file("network.tls_cert", c.Network.TLSCert)
	v.file("network.tls_key", c.Network.TLSKey)

	v.oneOf("observability.log_format", c.Observability.LogFormat, "text", "json")

	v.oneOf("logging.rotation", c.Logging.Rotation, "size", "hourly", "daily")
	v.between("logging.max_size_mb", c.Logging.MaxSizeMB, 1, 1<<20)
	v.between("logging.max_backups", c.Logging.MaxBackups, 0, 1<<20)
	v.between("logging.max_age_days", c.Logging.MaxAgeDays, 0, 1<<20)

	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) add(key, msg string) {
	v.errs = append(v.errs, &Error{Where: v.c.origin[key], Key: key, Message: msg})
}

func (v *validator) isSet(key string) bool { _, ok := v.c.origin[key]; return ok }

// clash reports a conflict between key and other at key, with the place
// where key was set; when only other was set (key has its default), the
// place is other's, so the report still points into the file.
func (v *validator) clash(key, other, msg string) {
	where := v.c.origin[key]
	if where == "" {
		where = v.c.origin[other]
	}
	v.errs = append(v.errs, &Error{Where: where, Key: key, Message: msg})
}

// notAFile reports a folder setting that names something other than a
// folder (start would fail to create or open it). A missing one is fine:
// start creates it.
func (v *validator) notAFile(key, path string) {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		v.add(key, fmt.Sprintf("%s is a file, not a folder", path))
	}
}

// writable reports a folder that this process could not create or write
// in: dir itself when it exists, else the nearest folder above it that
// does (where start would create it). It tries, with a temporary file
// removed at once, so that it answers as start would (read-only mounts,
// ACLs, root included).
func (v *validator) writable(key, dir string) {
	at := filepath.Clean(dir)
	for {
		fi, err := os.Stat(at)
		if err == nil {
			if !fi.IsDir() {
				// dir itself as a data or log folder: notAFile says so.
				if at != filepath.Clean(dir) || key != "server.data_dir" && key != "storage.wal_dir" {
					v.add(key, fmt.Sprintf("folder %s cannot be created: %s is a file", dir, at))
				}
				return
			}
			break
		}
		up := filepath.Dir(at)
		if up == at {
			return
		}
		at = up
	}
	f, err := os.CreateTemp(at, ".amaters-write-check-*")
	if err != nil {
		what := "folder " + at + " is not writable"
		if at != filepath.Clean(dir) {
			what = "folder " + dir + " cannot be created: " + at + " is not writable"
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		v.add(key, fmt.Sprintf("%s by this user (uid %d): %v", what, os.Getuid(), err))
		return
	}
	f.Close()
	os.Remove(f.Name())
}

func (v *validator) nonEmpty(key, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(key, "must not be empty")
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		msg := fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", "))
		for _, a := range allowed {
			if strings.EqualFold(a, s) {
				msg += fmt.Sprintf(" (did you mean %q?)", a)
				break
			}
		}
		v.add(key, msg)
	}
}

func (v *validator) between(key string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.add(key, fmt.Sprintf("%d is out of range %d..%d", n, lo, hi))
	}
}

func (v *validator) port(key string, p int64) {
	if p < 0 || p > 65535 {
		v.add(key, fmt.Sprintf("port %d is out of range 0..65535", p))
	}
}

func (v *validator) hostPort(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, fmt.Sprintf("%q is not HOST:PORT", addr))
		return
	}
	p, err := strconv.ParseInt(port, 10, 64)
	if err != nil {
		v.add(key, fmt.Sprintf("port %q is not a number", port))
		return
	}
	if p < 0 || p > 65535 {
		v.add(key, fmt.Sprintf("port %d is out of range 0..65535", p))
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		v.add(key, fmt.Sprintf("host %q is neither an IP address nor a host name", host))
	}
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// file checks that a configured file exists and can be read now, so a typo
// fails at validation rather than at the first request that needs it. It
// reports whether the file is usable (true for an unset path).
func (v *validator) file(key, path string) bool {
	if path == "" {
		return true
	}
	// Stat first: opening a FIFO or a device could block or never end.
	st, err := os.Stat(path)
	if err == nil && !st.Mode().IsRegular() {
		what := "a folder"
		if !st.IsDir() {
			what = "not a regular file"
		}
		v.add(key, fmt.Sprintf("%s is %s", path, what))
		return false
	}
	var f *os.File
	if err == nil {
		f, err = os.Open(path)
	}
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			v.add(key, fmt.Sprintf("file %s does not exist", path))
		case errors.Is(err, os.ErrPermission):
			v.add(key, fmt.Sprintf("file %s is not readable (permission denied)", path))
		default:
			v.add(key, fmt.Sprintf("file %s cannot be opened: %v", path, errors.Unwrap(err)))
		}
		return false
	}
	f.Close()
	return true
}

func (v *validator) headerName(key, name string) {
	if name == "" {
		v.add(key, "must not be empty")
		return
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			v.add(key, fmt.Sprintf("%q is not a valid HTTP header name", name))
			return
		}
	}
}

func (v *validator) origin(key, o string) {
	if o == "*" {
		return
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.add(key, fmt.Sprintf("%q is not an origin (scheme://host[:port], no path) or \"*\"", o))
	}
}
