package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"amaters-server/rbac"
)

// field binds one configuration key to its place in Config.
type field struct {
	key    string
	ptr    any  // *string, *Secret, *int64, *bool, *[]string, *time.Duration (milliseconds)
	path   bool // a file or folder path: relative values are resolved against the config file's folder
	size   bool // an *int64 byte count that may also be written "64MiB"
	secret bool
}

// fields lists every configuration key in the order of API.md §2; it is the
// single table that the file, the environment, the flags and --show use.
func (c *Config) fields() []field {
	return []field{
		{key: "server.bind_address", ptr: &c.Server.BindAddress},
		{key: "server.data_dir", ptr: &c.Server.DataDir, path: true},
		{key: "server.log_level", ptr: &c.Server.LogLevel},
		{key: "server.shutdown_timeout_ms", ptr: &c.Server.ShutdownTimeout},
		{key: "server.pid_file", ptr: &c.Server.PIDFile, path: true},
		{key: "storage.engine", ptr: &c.Storage.Engine},
		{key: "storage.wal_dir", ptr: &c.Storage.WALDir, path: true},
		{key: "storage.cache_size_mb", ptr: &c.Storage.CacheSizeMB},
		{key: "storage.compaction_threads", ptr: &c.Storage.CompactionThreads},
		{key: "storage.memtable_size_mb", ptr: &c.Storage.MemtableSizeMB},
		{key: "storage.sync", ptr: &c.Storage.Sync},
		{key: "storage.sync_interval_ms", ptr: &c.Storage.SyncInterval},
		{key: "storage.scrub_interval_ms", ptr: &c.Storage.ScrubInterval},
		{key: "storage.max_key_bytes", ptr: &c.Storage.MaxKeyBytes},
		{key: "storage.max_value_bytes", ptr: &c.Storage.MaxValueBytes, size: true},
		{key: "storage.compression", ptr: &c.Storage.Compression},
		{key: "storage.memory_limit_mb", ptr: &c.Storage.MemoryLimitMB},
		{key: "auth.jwt_secret", ptr: &c.Auth.JWTSecret, secret: true},
		{key: "auth.jwt_algorithm", ptr: &c.Auth.JWTAlgorithm},
		{key: "auth.jwt_public_key", ptr: &c.Auth.JWTPublicKey, path: true},
		{key: "auth.jwt_issuer", ptr: &c.Auth.JWTIssuer},
		{key: "auth.jwt_audience", ptr: &c.Auth.JWTAudience},
		{key: "auth.jwt_leeway_ms", ptr: &c.Auth.JWTLeeway},
		{key: "auth.api_key_header", ptr: &c.Auth.APIKeyHeader},
		{key: "auth.api_keys_file", ptr: &c.Auth.APIKeysFile, path: true},
		{key: "auth.mtls_ca_cert", ptr: &c.Auth.MTLSCACert, path: true},
		{key: "auth.allow_anonymous", ptr: &c.Auth.AllowAnonymous},
		{key: "authz.roles_file", ptr: &c.Authz.RolesFile, path: true},
		{key: "authz.default_role", ptr: &c.Authz.DefaultRole},
		{key: "middleware.rate_limit_rps", ptr: &c.Middleware.RateLimitRPS},
		{key: "middleware.rate_limit_burst", ptr: &c.Middleware.RateLimitBurst},
		{key: "middleware.cors_origins", ptr: &c.Middleware.CORSOrigins},
		{key: "middleware.compression", ptr: &c.Middleware.Compression},
		{key: "middleware.max_body_bytes", ptr: &c.Middleware.MaxBodyBytes, size: true},
		{key: "cache.max_entries", ptr: &c.Cache.MaxEntries},
		{key: "cache.max_bytes", ptr: &c.Cache.MaxBytes, size: true},
		{key: "health.http_port", ptr: &c.Health.HTTPPort},
		{key: "network.max_connections", ptr: &c.Network.MaxConnections},
		{key: "network.max_connections_per_ip", ptr: &c.Network.MaxConnectionsPerIP},
		{key: "network.max_inflight_body_mb", ptr: &c.Network.MaxInflightBodyMB},
		{key: "network.idle_timeout_ms", ptr: &c.Network.IdleTimeout},
		{key: "network.read_header_timeout_ms", ptr: &c.Network.ReadHeaderTimeout},
		{key: "network.tls_cert", ptr: &c.Network.TLSCert, path: true},
		{key: "network.tls_key", ptr: &c.Network.TLSKey, path: true},
		{key: "observability.metrics_port", ptr: &c.Observability.MetricsPort},
		{key: "observability.log_format", ptr: &c.Observability.LogFormat},
		{key: "observability.access_log", ptr: &c.Observability.AccessLog},
		{key: "observability.access_log_file", ptr: &c.Observability.AccessLogFile, path: true},
		{key: "logging.file", ptr: &c.Logging.File, path: true},
		{key: "logging.rotation", ptr: &c.Logging.Rotation},
		{key: "logging.max_size_mb", ptr: &c.Logging.MaxSizeMB},
		{key: "logging.max_backups", ptr: &c.Logging.MaxBackups},
		{key: "logging.max_age_days", ptr: &c.Logging.MaxAgeDays},
		{key: "logging.compress", ptr: &c.Logging.Compress},
		{key: "audit.enabled", ptr: &c.Audit.Enabled},
		{key: "audit.file", ptr: &c.Audit.File, path: true},
		{key: "watch.history_revisions", ptr: &c.Watch.HistoryRevisions},
		{key: "watch.buffer_events", ptr: &c.Watch.BufferEvents},
		{key: "watch.keepalive_ms", ptr: &c.Watch.Keepalive},
		{key: "watch.max_watchers", ptr: &c.Watch.MaxWatchers},
	}
}

func findField(fields []field, key string) *field {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i]
		}
	}
	return nil
}

// setTOML stores a decoded TOML value, checking its type.
func (f *field) setTOML(v any) error {
	switch p := f.ptr.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return typeError("a string", v)
		}
		*p = s
	case *Secret:
		s, ok := v.(string)
		if !ok {
			return typeError("a string", v)
		}
		*p = Secret(s)
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return typeError("true or false", v)
		}
		*p = b
	case *int64:
		switch n := v.(type) {
		case int64:
			*p = n
		case string:
			if !f.size {
				return typeError("an integer", v)
			}
			return f.setString(n)
		default:
			if f.size {
				return typeError(`an integer number of bytes or a size such as "64MiB"`, v)
			}
			return typeError("an integer", v)
		}
	case *time.Duration:
		n, ok := v.(int64)
		if !ok {
			return typeError("an integer number of milliseconds", v)
		}
		if n < 0 || n > maxMillis {
			return fmt.Errorf("%d ms is out of range", n)
		}
		*p = time.Duration(n) * time.Millisecond
	case *[]string:
		list, ok := v.([]any)
		if !ok {
			return typeError("an array of strings", v)
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return typeError("an array of strings", v)
			}
			out = append(out, s)
		}
		*p = out
	default:
		panic("config: unhandled field type for " + f.key)
	}
	return nil
}

// setString stores a value given as text (environment or flag).
func (f *field) setString(s string) error {
	switch p := f.ptr.(type) {
	case *string:
		*p = s
	case *Secret:
		*p = Secret(s)
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = b
	case *int64:
		if f.size {
			n, err := parseSize(s)
			if err != nil {
				return err
			}
			*p = n
			return nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		*p = n
	case *time.Duration:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer number of milliseconds", s)
		}
		if n > maxMillis {
			return fmt.Errorf("%d ms is out of range", n)
		}
		*p = time.Duration(n) * time.Millisecond
	case *[]string:
		var out []string
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
		*p = out
	default:
		panic("config: unhandled field type for " + f.key)
	}
	return nil
}

// parseSize reads a byte count: "1048576", "64MiB", "64MB" (MB means MiB,
// as everywhere in the configuration), "512KiB", "1GiB".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB or GiB)", s)
	}
	var mult int64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("%q has an unknown unit %q (use KiB, MiB or GiB)", s, unit)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// maxMillis bounds every *_ms setting, from the file, the environment or a
// flag: a year, far below where a time.Duration would overflow.
const maxMillis = int64(365 * 24 * time.Hour / time.Millisecond)

func typeError(want string, got any) error {
	return fmt.Errorf("must be %s, not %s", want, rbac.TOMLTypeName(got))
}

func sectionNames(fields []field) []string {
	var out []string
	for _, f := range fields {
		s, _, _ := strings.Cut(f.key, ".")
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func keyNames(fields []field, section string) []string {
	var out []string
	for _, f := range fields {
		if k, ok := strings.CutPrefix(f.key, section+"."); ok {
			out = append(out, k)
		}
	}
	return out
}
