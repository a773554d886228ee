package config

import (
	"log/slog"
	"path/filepath"
	"time"
)

// Config is the complete server configuration of API.md §2. Its zero value
// is not useful: start from [Default] and apply a file, the environment and
// flags with [Load], then check it with [Config.Validate].
//
// Durations stored as time.Duration are written in the file as integer
// milliseconds (the keys end in _ms); sizes ending in _mb are MiB.
type Config struct {
	Server        Server
	Storage       Storage
	Auth          Auth
	Authz         Authz
	Middleware    Middleware
	Cache         Cache
	Health        Health
	Network       Network
	Observability Observability
	Logging       Logging
	Audit         Audit
	Watch         Watch

	// File is the configuration file that was loaded, or "" for none.
	File string

	// origin records where each key that is not a default came from, for
	// error messages: "FILE:LINE", "$AMATERS_X" or "flag --x". Load fills
	// it; it is never written afterwards, so copies of a Config share it.
	origin map[string]string
}

// Origin returns where the value of key ("section.key") came from, as
// problems name it: "FILE:LINE", "$AMATERS_X" or "flag --x"; "" for a
// default, or a value set in code.
func (c *Config) Origin(key string) string { return c.origin[key] }

// Server is the [server] section.
type Server struct {
	BindAddress     string
	DataDir         string
	LogLevel        string
	ShutdownTimeout time.Duration
	PIDFile         string
}

// Storage is the [storage] section.
type Storage struct {
	Engine            string
	WALDir            string // "" = <data_dir>/wal
	CacheSizeMB       int64
	CompactionThreads int64
	MemtableSizeMB    int64
	Sync              string
	SyncInterval      time.Duration
	// ScrubInterval, when positive, turns on the background scrubber:
	// every table is re-read and verified, then it pauses this long.
	ScrubInterval time.Duration
	MaxKeyBytes   int64
	MaxValueBytes int64
	// Compression is how table blocks are stored: "snappy" (a block
	// that shrinks by less than an eighth is kept as it is) or "none".
	Compression string
	// MemoryLimitMB, when positive, is the Go runtime's soft memory limit
	// (debug.SetMemoryLimit) for the whole process.
	MemoryLimitMB int64
}

// Auth is the [auth] section.
type Auth struct {
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
func (a Auth) Enabled() bool {
	return a.JWTSecret != "" || a.JWTPublicKey != "" || a.APIKeysFile != "" || a.MTLSCACert != ""
}

// Authz is the [authz] section.
type Authz struct {
	RolesFile   string
	DefaultRole string
}

// Middleware is the [middleware] section.
type Middleware struct {
	RateLimitRPS   int64
	RateLimitBurst int64 // 0 = same as RateLimitRPS
	CORSOrigins    []string
	Compression    bool
	MaxBodyBytes   int64 // 0 = MaxValueBytes + 1 MiB
}

// Watch is the [watch] section (API.md §8).
type Watch struct {
	// HistoryRevisions is how many revisions of changes the store keeps
	// on disk for watches that start in the past.
	HistoryRevisions int64
	// BufferEvents is how far (in events) a watcher may fall behind
	// before it is ended as a slow consumer.
	BufferEvents int64
	// Keepalive is the interval of the comment lines that keep idle
	// streams open.
	Keepalive time.Duration
	// MaxWatchers is the number of open watches the server allows.
	MaxWatchers int64
}

// Cache is the [cache] section.
type Cache struct {
	MaxEntries int64
	MaxBytes   int64
}

// Health is the [health] section.
type Health struct {
	HTTPPort int64
}

// Network is the [network] section.
type Network struct {
	MaxConnections int64
	// MaxConnectionsPerIP caps the API connections of one client address
	// (an IPv6 address by its /64); 0 = no cap of its own.
	MaxConnectionsPerIP int64
	// MaxInflightBodyMB bounds the request body bytes held by all requests
	// at once (MiB).
	MaxInflightBodyMB int64
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	TLSCert           string
	TLSKey            string
}

// Observability is the [observability] section.
type Observability struct {
	MetricsPort int64 // 0 = same as health.http_port
	LogFormat   string
	// AccessLog turns the access log (one line per API request) on.
	AccessLog bool
	// AccessLogFile, when set, is where the access log goes, rotated with
	// the [logging] settings; "" = with the server log.
	AccessLogFile string
}

// Logging is the [logging] section.
type Logging struct {
	File       string
	Rotation   string
	MaxSizeMB  int64
	MaxBackups int64
	MaxAgeDays int64
	Compress   bool
}

// Audit is the [audit] section.
type Audit struct {
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
		Server: Server{
			BindAddress:     "127.0.0.1:7878",
			DataDir:         "./data",
			LogLevel:        "info",
			ShutdownTimeout: 30 * time.Second,
		},
		Storage: Storage{
			Engine:            "lsm",
			CacheSizeMB:       64,
			CompactionThreads: 2,
			MemtableSizeMB:    64,
			Sync:              "always",
			SyncInterval:      100 * time.Millisecond,
			MaxKeyBytes:       4096,
			MaxValueBytes:     16 << 20,
			Compression:       "snappy",
		},
		Auth: Auth{
			JWTAlgorithm: "HS256",
			JWTLeeway:    30 * time.Second,
			APIKeyHeader: "X-API-Key",
		},
		Authz:      Authz{DefaultRole: "reader"},
		Middleware: Middleware{RateLimitRPS: 1000, Compression: true},
		Cache:      Cache{MaxEntries: 65536, MaxBytes: 64 << 20},
		Watch:      Watch{HistoryRevisions: 100000, BufferEvents: 10000, Keepalive: 15 * time.Second, MaxWatchers: 10000},
		Health:     Health{HTTPPort: 9090},
		Network: Network{
			MaxConnections:      1000,
			MaxConnectionsPerIP: 256,
			MaxInflightBodyMB:   256,
			IdleTimeout:         60 * time.Second,
			ReadHeaderTimeout:   10 * time.Second,
		},
		Observability: Observability{LogFormat: "text", AccessLog: true},
		Logging:       Logging{Rotation: "size", MaxSizeMB: 100, MaxBackups: 10},
		Audit:         Audit{Enabled: true},
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
	WALDir     string
}
