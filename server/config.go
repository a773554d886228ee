package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the complete server configuration of API.md §2. Its zero value
// is not useful: start from [Default] and apply a file, the environment and
// flags with [LoadConfig], then check it with [Config.Validate].
//
// Durations stored as time.Duration are written in the file as integer
// milliseconds (the keys end in _ms); sizes ending in _mb are MiB.
type Config struct {
	Server        ServerConfig
	Storage       StorageConfig
	Auth          AuthConfig
	Authz         AuthzConfig
	Middleware    MiddlewareConfig
	Cache         CacheConfig
	Health        HealthConfig
	Network       NetworkConfig
	Observability ObservabilityConfig
	Logging       LoggingConfig
	Audit         AuditConfig

	// File is the configuration file that was loaded, or "" for none.
	File string

	// origin records where each key that is not a default came from, for
	// error messages: "FILE:LINE", "$AMATERS_X" or "flag --x".
	origin map[string]string

	// validated is what the last successful Validate loaded (keys,
	// certificates, roles), so that New does not read the files again.
	validated *live
}

// ServerConfig is the [server] section.
type ServerConfig struct {
	BindAddress     string
	DataDir         string
	LogLevel        string
	ShutdownTimeout time.Duration
	PIDFile         string
}

// StorageConfig is the [storage] section.
type StorageConfig struct {
	Engine            string
	WALDir            string // "" = <data_dir>/wal
	CacheSizeMB       int64
	CompactionThreads int64
	MemtableSizeMB    int64
	Sync              string
	SyncInterval      time.Duration
	MaxKeyBytes       int64
	MaxValueBytes     int64
}

// AuthConfig is the [auth] section.
type AuthConfig struct {
	JWTSecret      Secret
	JWTAlgorithm   string
	JWTPublicKey   string
	JWTIssuer      string
	JWTAudience    string
	JWTLeeway      time.Duration
	APIKeyHeader   string
	APIKeysFile    string
	MTLSCACert     string
	AllowAnonymous bool
}

// Enabled reports whether any authentication method is configured. With
// none, the server runs in protected mode (API.md §4).
func (a AuthConfig) Enabled() bool {
	return a.JWTSecret != "" || a.JWTPublicKey != "" || a.APIKeysFile != "" || a.MTLSCACert != ""
}

// AuthzConfig is the [authz] section.
type AuthzConfig struct {
	RolesFile   string
	DefaultRole string
}

// MiddlewareConfig is the [middleware] section.
type MiddlewareConfig struct {
	RateLimitRPS   int64
	RateLimitBurst int64 // 0 = same as RateLimitRPS
	CORSOrigins    []string
	Compression    bool
	MaxBodyBytes   int64 // 0 = MaxValueBytes + 1 MiB
}

// CacheConfig is the [cache] section.
type CacheConfig struct {
	MaxEntries int64
	MaxBytes   int64
}

// HealthConfig is the [health] section.
type HealthConfig struct {
	HTTPPort int64
}

// NetworkConfig is the [network] section.
type NetworkConfig struct {
	MaxConnections    int64
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	TLSCert           string
	TLSKey            string
}

// ObservabilityConfig is the [observability] section.
type ObservabilityConfig struct {
	MetricsPort int64 // 0 = same as health.http_port
	LogFormat   string
}

// LoggingConfig is the [logging] section.
type LoggingConfig struct {
	File       string
	Rotation   string
	MaxSizeMB  int64
	MaxBackups int64
	MaxAgeDays int64
	Compress   bool
}

// AuditConfig is the [audit] section.
type AuditConfig struct {
	Enabled bool
	File    string // "" = <data_dir>/audit.log
}

// Secret is a string that never shows itself in logs or printed
// configurations.
type Secret string

// String returns a redacted form.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// LogValue implements slog.LogValuer so a secret never reaches a log.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Default returns the embedded default configuration of API.md §2.
func Default() Config {
	return Config{
		Server: ServerConfig{
			BindAddress:     "127.0.0.1:7878",
			DataDir:         "./data",
			LogLevel:        "info",
			ShutdownTimeout: 30 * time.Second,
		},
		Storage: StorageConfig{
			Engine:            "lsm",
			CacheSizeMB:       64,
			CompactionThreads: 2,
			MemtableSizeMB:    64,
			Sync:              "always",
			SyncInterval:      100 * time.Millisecond,
			MaxKeyBytes:       4096,
			MaxValueBytes:     16 << 20,
		},
		Auth: AuthConfig{
			JWTAlgorithm: "HS256",
			JWTLeeway:    30 * time.Second,
			APIKeyHeader: "X-API-Key",
		},
		Authz:      AuthzConfig{DefaultRole: "reader"},
		Middleware: MiddlewareConfig{RateLimitRPS: 1000, Compression: true},
		Cache:      CacheConfig{MaxEntries: 65536, MaxBytes: 64 << 20},
		Health:     HealthConfig{HTTPPort: 9090},
		Network: NetworkConfig{
			MaxConnections:    1000,
			IdleTimeout:       60 * time.Second,
			ReadHeaderTimeout: 10 * time.Second,
		},
		Observability: ObservabilityConfig{LogFormat: "text"},
		Logging:       LoggingConfig{Rotation: "size", MaxSizeMB: 100, MaxBackups: 10},
		Audit:         AuditConfig{Enabled: true},
	}
}

// Resolved values of the keys whose default depends on another key.

// WALDir returns storage.wal_dir, defaulting to <data_dir>/wal.
func (c *Config) WALDir() string {
	if c.Storage.WALDir != "" {
		return c.Storage.WALDir
	}
	return filepath.Join(c.Server.DataDir, "wal")
}

// AuditFile returns audit.file, defaulting to <data_dir>/audit.log.
func (c *Config) AuditFile() string {
	if c.Audit.File != "" {
		return c.Audit.File
	}
	return filepath.Join(c.Server.DataDir, "audit.log")
}

// RateLimitBurst returns middleware.rate_limit_burst, defaulting to the rps.
func (c *Config) RateLimitBurst() int64 {
	if c.Middleware.RateLimitBurst > 0 {
		return c.Middleware.RateLimitBurst
	}
	return c.Middleware.RateLimitRPS
}

// MaxBodyBytes returns middleware.max_body_bytes, defaulting to
// storage.max_value_bytes + 1 MiB.
func (c *Config) MaxBodyBytes() int64 {
	if c.Middleware.MaxBodyBytes > 0 {
		return c.Middleware.MaxBodyBytes
	}
	return c.Storage.MaxValueBytes + 1<<20
}

// MetricsPort returns observability.metrics_port, defaulting to the health port.
func (c *Config) MetricsPort() int64 {
	if c.Observability.MetricsPort > 0 {
		return c.Observability.MetricsPort
	}
	return c.Health.HTTPPort
}

// Overrides are the settings given on the command line of `start`; an empty
// field leaves the configuration alone.
type Overrides struct {
	DataDir    string
	Bind       string
	LogLevel   string
	Engine     string
	HealthPort string
}

// ConfigError is one configuration problem, printed as
// "FILE:LINE: section.key: message" (or "$ENV: ..." / "flag --x: ...").
type ConfigError struct {
	Where   string // "config.toml:12", "$AMATERS_DATA_DIR", "flag --bind", or "" for a default
	Key     string // "server.bind_address"; "" for a whole-file problem
	Message string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// LoadConfig builds the effective configuration: defaults, then the TOML
// file at path (if path is not ""), then AMATERS_* variables from env (as
// returned by os.Environ), then the command-line overrides. It does not
// validate values beyond their type; call [Config.Validate] for that. The
// error, if any, joins every problem found (each a *ConfigError).
func LoadConfig(path string, env []string, o Overrides) (Config, error) {
	c := Default()
	c.origin = map[string]string{}
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, &ConfigError{Where: path, Message: readErrorMessage(err)}
		}
		c.File = path
		errs = append(errs, c.applyFile(path, data)...)
	}
	errs = append(errs, c.applyEnv(env)...)
	errs = append(errs, c.applyOverrides(o)...)
	return c, errors.Join(errs...)
}

func readErrorMessage(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "configuration file does not exist"
	case errors.Is(err, os.ErrPermission):
		return "configuration file is not readable (permission denied)"
	}
	return err.Error()
}

// applyFile decodes a TOML document and sets every key it names. Every
// problem is collected: unknown sections and keys (with a hint), values of
// the wrong type. Relative paths are resolved against the file's folder.
func (c *Config) applyFile(path string, data []byte) []error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{&ConfigError{Where: fmt.Sprintf("%s:%d", path, pe.Position.Line), Message: "TOML syntax: " + pe.Message}}
		}
		return []error{&ConfigError{Where: path, Message: "TOML syntax: " + err.Error()}}
	}
	lines := keyLines(data)
	where := func(key string) string {
		if n, ok := lines[key]; ok {
			return fmt.Sprintf("%s:%d", path, n)
		}
		return path
	}
	dir := filepath.Dir(path)
	fields := c.fields()
	var errs []error
	for _, section := range sortedKeys(doc) {
		table, ok := doc[section].(map[string]any)
		if !ok {
			msg := unknownMessage("top-level key", section, sectionNames(fields))
			if slices.Contains(sectionNames(fields), section) {
				// [[health]] or health = 1: the right name, the wrong shape.
				msg = fmt.Sprintf("%q must be a table: [%s], not %s", section, section, tomlTypeName(doc[section]))
			}
			errs = append(errs, &ConfigError{Where: where(section), Key: section, Message: msg})
			continue
		}
		if !slices.Contains(sectionNames(fields), section) {
			errs = append(errs, &ConfigError{Where: where(section), Key: section, Message: unknownMessage("section", section, sectionNames(fields))})
			continue
		}
		for _, name := range sortedKeys(table) {
			key := section + "." + name
			f := findField(fields, key)
			if f == nil {
				errs = append(errs, &ConfigError{Where: where(key), Key: key, Message: unknownMessage("key", name, keyNames(fields, section))})
				continue
			}
			if err := f.setTOML(table[name]); err != nil {
				errs = append(errs, &ConfigError{Where: where(key), Key: key, Message: err.Error()})
				continue
			}
			if f.path {
				p := f.ptr.(*string)
				if *p != "" && !filepath.IsAbs(*p) {
					*p = filepath.Join(dir, *p)
				}
			}
			c.origin[key] = where(key)
		}
	}
	return errs
}

// applyEnv applies AMATERS_<SECTION>_<KEY> variables and the short aliases.
// A variable that names a known section but an unknown key is an error (a
// typo would otherwise be silently ignored); other AMATERS_* variables, such
// as the clients' AMATERS_TOKEN, are left alone.
func (c *Config) applyEnv(env []string) []error {
	fields := c.fields()
	aliases := map[string]string{
		"AMATERS_BIND_ADDRESS": "server.bind_address",
		"AMATERS_DATA_DIR":     "server.data_dir",
		"AMATERS_LOG_LEVEL":    "server.log_level",
	}
	vars := map[string]string{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, "AMATERS_") {
			vars[name] = value
		}
	}
	var errs []error
	apply := func(name, key, value string) {
		f := findField(fields, key)
		if err := f.setString(value); err != nil {
			errs = append(errs, &ConfigError{Where: "$" + name, Key: key, Message: err.Error()})
			return
		}
		c.origin[key] = "$" + name
	}
	// Aliases first, so the full names win when both are set.
	for _, name := range sortedKeys(vars) {
		if key, ok := aliases[name]; ok {
			apply(name, key, vars[name])
		}
	}
	for _, name := range sortedKeys(vars) {
		if _, ok := aliases[name]; ok {
			continue
		}
		rest := strings.ToLower(strings.TrimPrefix(name, "AMATERS_"))
		for _, section := range sectionNames(fields) {
			keyPart, ok := strings.CutPrefix(rest, section+"_")
			if !ok {
				continue
			}
			key := section + "." + keyPart
			if findField(fields, key) == nil {
				hint := ""
				if s := closest(keyPart, keyNames(fields, section)); s != "" {
					hint = fmt.Sprintf(" (did you mean AMATERS_%s_%s?)", strings.ToUpper(section), strings.ToUpper(s))
				}
				errs = append(errs, &ConfigError{Where: "$" + name, Key: key, Message: "unknown configuration variable" + hint})
				break
			}
			apply(name, key, vars[name])
			break
		}
	}
	return errs
}

func (c *Config) applyOverrides(o Overrides) []error {
	fields := c.fields()
	var errs []error
	for _, ov := range []struct{ flag, key, value string }{
		{"--data-dir", "server.data_dir", o.DataDir},
		{"--bind", "server.bind_address", o.Bind},
		{"--log-level", "server.log_level", o.LogLevel},
		{"--engine", "storage.engine", o.Engine},
		{"--health-port", "health.http_port", o.HealthPort},
	} {
		if ov.value == "" {
			continue
		}
		if err := findField(fields, ov.key).setString(ov.value); err != nil {
			errs = append(errs, &ConfigError{Where: "flag " + ov.flag, Key: ov.key, Message: err.Error()})
			continue
		}
		c.origin[ov.key] = "flag " + ov.flag
	}
	return errs
}

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
		{key: "storage.max_key_bytes", ptr: &c.Storage.MaxKeyBytes},
		{key: "storage.max_value_bytes", ptr: &c.Storage.MaxValueBytes, size: true},
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
		{key: "network.idle_timeout_ms", ptr: &c.Network.IdleTimeout},
		{key: "network.read_header_timeout_ms", ptr: &c.Network.ReadHeaderTimeout},
		{key: "network.tls_cert", ptr: &c.Network.TLSCert, path: true},
		{key: "network.tls_key", ptr: &c.Network.TLSKey, path: true},
		{key: "observability.metrics_port", ptr: &c.Observability.MetricsPort},
		{key: "observability.log_format", ptr: &c.Observability.LogFormat},
		{key: "logging.file", ptr: &c.Logging.File, path: true},
		{key: "logging.rotation", ptr: &c.Logging.Rotation},
		{key: "logging.max_size_mb", ptr: &c.Logging.MaxSizeMB},
		{key: "logging.max_backups", ptr: &c.Logging.MaxBackups},
		{key: "logging.max_age_days", ptr: &c.Logging.MaxAgeDays},
		{key: "logging.compress", ptr: &c.Logging.Compress},
		{key: "audit.enabled", ptr: &c.Audit.Enabled},
		{key: "audit.file", ptr: &c.Audit.File, path: true},
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
	return fmt.Errorf("must be %s, not %s", want, tomlTypeName(got))
}

func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
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

func unknownMessage(what, name string, known []string) string {
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if s := closest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// closest returns the candidate nearest to name by edit distance, if it is
// near enough to be a plausible typo.
func closest(name string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(name)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// keyLines maps "section.key" (and "section") to the 1-based line where the
// file defines it. It understands the subset of TOML a configuration file
// uses: [table] headers, bare or quoted keys, dotted keys and multi-line
// strings and arrays (whose inner lines are skipped). It only serves error
// messages; the document itself is parsed by the toml package.
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	table := ""
	inString := "" // the closing delimiter of a multi-line string
	depth := 0     // open brackets of a multi-line array
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := strings.TrimSpace(string(raw))
		if inString != "" {
			if strings.Contains(line, inString) {
				inString = ""
			}
			continue
		}
		if depth > 0 {
			depth += strings.Count(line, "[") - strings.Count(line, "]")
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			name := strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t")
			table = unquoteKey(name)
			if _, ok := out[table]; !ok {
				out[table] = n
			}
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue
		}
		key := unquoteKey(strings.TrimSpace(line[:eq]))
		if table != "" {
			key = table + "." + key
		}
		if _, ok := out[key]; !ok {
			out[key] = n
		}
		value := strings.TrimSpace(line[eq+1:])
		for _, d := range []string{`"""`, `'''`} {
			if strings.HasPrefix(value, d) && !strings.Contains(value[3:], d) {
				inString = d
			}
		}
		if strings.HasPrefix(value, "[") {
			depth = strings.Count(value, "[") - strings.Count(value, "]")
		}
	}
	return out
}

// unquoteKey turns `a."b c".d` into `a.b c.d`.
func unquoteKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
