package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"amaters-server/server/config"
)

// problems lists the joined *ConfigError lines of err.
func problems(err error) []string {
	var out []string
	for _, e := range config.Problems(err) {
		out = append(out, e.Error())
	}
	return out
}

func loadAndValidate(t *testing.T, path string, env []string, o config.Overrides) (config.Config, []string) {
	t.Helper()
	cfg, err := config.Load(path, env, o)
	return cfg, problems(errors.Join(err, cfg.Validate()))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantProblem(t *testing.T, got []string, want string) {
	t.Helper()
	for _, g := range got {
		if strings.Contains(g, want) {
			return
		}
	}
	t.Errorf("no problem contains %q; got:\n  %s", want, strings.Join(got, "\n  "))
}

func TestDefaultIsValid(t *testing.T) {
	cfg, probs := loadAndValidate(t, "", nil, config.Overrides{})
	if len(probs) > 0 {
		t.Fatalf("embedded default invalid: %v", probs)
	}
	if cfg.Server.BindAddress != "127.0.0.1:7878" || cfg.Health.HTTPPort != 9090 || cfg.Storage.Engine != "lsm" || cfg.Server.DataDir != "./data" {
		t.Errorf("default = %+v", cfg.Server)
	}
	if cfg.Auth.Enabled() {
		t.Error("auth is on by default")
	}
	if cfg.MaxBodyBytes() != 16<<20+1<<20 || cfg.RateLimitBurst() != 1000 || cfg.MetricsPort() != 9090 || cfg.WALDir() != filepath.Join("data", "wal") {
		t.Errorf("derived defaults: body %d burst %d metrics %d wal %s", cfg.MaxBodyBytes(), cfg.RateLimitBurst(), cfg.MetricsPort(), cfg.WALDir())
	}
}

func TestSeedExampleConfig(t *testing.T) {
	seed, err := os.ReadFile("testdata/seed-config.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// As printed in the seed README: the placeholder secret is refused,
	// with its line, and so are the TLS files that do not exist here.
	path := writeFile(t, dir, "config.toml", string(seed))
	_, probs := loadAndValidate(t, path, nil, config.Overrides{})
	wantProblem(t, probs, path+":13: auth.jwt_secret: is the placeholder")
	wantProblem(t, probs, "network.tls_cert: file /etc/amaters/server.crt does not exist")
	if len(probs) != 3 {
		t.Errorf("want 3 problems (secret, cert, key), got %d:\n%s", len(probs), strings.Join(probs, "\n"))
	}

	// With a real secret and paths that exist, every key is accepted with
	// the meaning the seed README gives it.
	certFile, keyFile := selfSignedCert(t, dir)
	fixed := strings.NewReplacer(
		`"change-me"`, `"`+strings.Repeat("s3cr3t", 8)+`"`,
		"/var/lib/amaters", filepath.Join(dir, "data"),
		"/etc/amaters/server.crt", certFile,
		"/etc/amaters/server.key", keyFile,
	).Replace(string(seed))
	path = writeFile(t, dir, "fixed.toml", fixed)
	cfg, probs := loadAndValidate(t, path, nil, config.Overrides{})
	if len(probs) > 0 {
		t.Fatalf("fixed seed config refused: %v", probs)
	}
	checks := map[string][2]any{
		"bind":      {cfg.Server.BindAddress, "0.0.0.0:7878"},
		"engine":    {cfg.Storage.Engine, "lsm"},
		"wal":       {cfg.WALDir(), filepath.Join(dir, "data", "wal")},
		"cache":     {cfg.Storage.CacheSizeMB, int64(1024)},
		"threads":   {cfg.Storage.CompactionThreads, int64(4)},
		"rps":       {cfg.Middleware.RateLimitRPS, int64(1000)},
		"cors":      {strings.Join(cfg.Middleware.CORSOrigins, ","), "*"},
		"entries":   {cfg.Cache.MaxEntries, int64(65536)},
		"conns":     {cfg.Network.MaxConnections, int64(1000)},
		"idle":      {cfg.Network.IdleTimeout, 60 * time.Second},
		"logformat": {cfg.Observability.LogFormat, "json"},
		"auth":      {cfg.Auth.Enabled(), true},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "server.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, "server.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}

func TestConfigProblemsAreAllReportedWithLines(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", `# line 1
[server]
bind_adress = "127.0.0.1:7878"
log_level = "loud"

[storage]
engine = "rocks"
compaction_threads = 99
max_key_bytes = "big"

[health]
http_port = 70000

[network]
tls_cert = "missing.crt"

[auth]
jwt_secret = "short"

[observability]
log_format = "JSON"

[caches]
x = 1
`)
	_, probs := loadAndValidate(t, path, nil, config.Overrides{})
	for _, want := range []string{
		path + `:3: server.bind_adress: unknown key "bind_adress" (did you mean "bind_address"?)`,
		path + `:4: server.log_level: "loud" is not one of debug, info, warn, error`,
		path + `:7: storage.engine: "rocks" is not one of lsm, memory`,
		path + `:8: storage.compaction_threads: 99 is out of range 1..64`,
		path + `:9: storage.max_key_bytes: must be an integer, not a string`,
		path + `:12: health.http_port: port 70000 is out of range`,
		path + `:15: network.tls_cert: is set but network.tls_key is not`,
		path + `:15: network.tls_cert: file ` + filepath.Join(dir, "missing.crt") + ` does not exist`,
		path + `:18: auth.jwt_secret: is 5 bytes; HS256 needs at least 32`,
		path + `:21: observability.log_format: "JSON" is not one of text, json (did you mean "json"?)`,
		path + `:23: caches: unknown section "caches" (did you mean "cache"?)`,
	} {
		wantProblem(t, probs, want)
	}
}

func TestConfigSyntaxError(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.toml", "[server]\nbind_address = \"x\n")
	_, err := config.Load(path, nil, config.Overrides{})
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: TOML syntax") {
		t.Fatalf("syntax error: %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "none.toml"), nil, config.Overrides{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", `
[server]
bind_address = "127.0.0.1:1001"
data_dir = "rel/data"
log_level = "warn"
[middleware]
cors_origins = ["https://a.example"]
[health]
http_port = 2001
`)
	// File only: relative paths resolve against the file's folder.
	cfg, probs := loadAndValidate(t, path, nil, config.Overrides{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if cfg.Server.BindAddress != "127.0.0.1:1001" || cfg.Server.DataDir != filepath.Join(dir, "rel/data") || cfg.Health.HTTPPort != 2001 {
		t.Fatalf("file values: %+v %+v", cfg.Server, cfg.Health)
	}
	// Environment beats the file; the full name beats the short alias.
	env := []string{
		"AMATERS_SERVER_BIND_ADDRESS=127.0.0.1:1002",
		"AMATERS_BIND_ADDRESS=127.0.0.1:1009",
		"AMATERS_LOG_LEVEL=debug",
		"AMATERS_DATA_DIR=envdata",
		"AMATERS_MIDDLEWARE_CORS_ORIGINS=https://b.example, https://c.example",
		"AMATERS_HEALTH_HTTP_PORT=2002",
		"AMATERS_TOKEN=not-a-config-key",
		"PATH=/usr/bin",
	}
	cfg, probs = loadAndValidate(t, path, env, config.Overrides{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if cfg.Server.BindAddress != "127.0.0.1:1002" || cfg.Server.LogLevel != "debug" || cfg.Server.DataDir != "envdata" ||
		cfg.Health.HTTPPort != 2002 || strings.Join(cfg.Middleware.CORSOrigins, " ") != "https://b.example https://c.example" {
		t.Fatalf("env values: %+v %+v %v", cfg.Server, cfg.Health, cfg.Middleware.CORSOrigins)
	}
	// Flags beat the environment.
	cfg, probs = loadAndValidate(t, path, env, config.Overrides{Bind: "127.0.0.1:1003", LogLevel: "error", DataDir: "flagdata", Engine: "memory", HealthPort: "2003"})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if cfg.Server.BindAddress != "127.0.0.1:1003" || cfg.Server.LogLevel != "error" || cfg.Server.DataDir != "flagdata" ||
		cfg.Storage.Engine != "memory" || cfg.Health.HTTPPort != 2003 {
		t.Fatalf("flag values: %+v %+v", cfg.Server, cfg.Storage)
	}
}

func TestConfigEnvAndFlagErrors(t *testing.T) {
	_, probs := loadAndValidate(t, "", []string{
		"AMATERS_SERVER_BIND_ADRESS=x",
		"AMATERS_STORAGE_MAX_KEY_BYTES=lots",
		"AMATERS_LOG_LEVEL=chatty",
	}, config.Overrides{HealthPort: "ninety"})
	wantProblem(t, probs, "$AMATERS_SERVER_BIND_ADRESS: server.bind_adress: unknown configuration variable (did you mean AMATERS_SERVER_BIND_ADDRESS?)")
	wantProblem(t, probs, `$AMATERS_STORAGE_MAX_KEY_BYTES: storage.max_key_bytes: "lots" is not an integer`)
	wantProblem(t, probs, `$AMATERS_LOG_LEVEL: server.log_level: "chatty" is not one of`)
	wantProblem(t, probs, `flag --health-port: health.http_port: "ninety" is not an integer`)
}

func TestConfigRules(t *testing.T) {
	dir := t.TempDir()
	pem := writeFile(t, dir, "key.pem", "not really a key")
	cases := []struct {
		name, toml, want string
	}{
		{"placeholder secret", `[auth]` + "\n" + `jwt_secret = "change-me"`, "auth.jwt_secret: is the placeholder"},
		{"HS512 needs 64 bytes", "[auth]\njwt_algorithm = \"HS512\"\njwt_secret = \"" + strings.Repeat("x", 40) + "\"", "HS512 needs at least 64"},
		{"secret with RS256", "[auth]\njwt_algorithm = \"RS256\"\njwt_secret = \"" + strings.Repeat("x", 40) + "\"", "is for the HS* algorithms"},
		{"RS256 without key", "[auth]\njwt_algorithm = \"RS256\"", "RS256 needs auth.jwt_public_key"},
		{"public key with HS", "[auth]\njwt_public_key = \"" + pem + "\"", "is for RS*, ES* and EdDSA"},
		{"bad algorithm", "[auth]\njwt_algorithm = \"none\"", `"none" is not one of`},
		{"bad bind host", "[server]\nbind_address = \"bad host!:80\"", "is neither an IP address nor a host name"},
		{"bind without port", "[server]\nbind_address = \"127.0.0.1\"", "is not HOST:PORT"},
		{"health port equals API port", "[server]\nbind_address = \"127.0.0.1:9000\"\n[health]\nhttp_port = 9000", "c.toml:4: health.http_port: 9000 is also the API port"},
		{"API port equals the default health port", "[server]\nbind_address = \"127.0.0.1:9090\"", "c.toml:2: health.http_port: 9090 is also the API port"},
		{"metrics port equals API port", "[server]\nbind_address = \"127.0.0.1:17878\"\n[observability]\nmetrics_port = 17878", "c.toml:4: observability.metrics_port: 17878 is also the API port"},
		{"bad origin", "[middleware]\ncors_origins = [\"https://a.example/path\"]", "is not an origin"},
		{"bad rotation", "[logging]\nrotation = \"weekly\"", `"weekly" is not one of size, hourly, daily`},
		{"bad sync", "[storage]\nsync = \"sometimes\"", `"sometimes" is not one of always, interval, none`},
		{"wrong type bool", "[audit]\nenabled = \"yes\"", "must be true or false, not a string"},
		{"wrong type list", "[middleware]\ncors_origins = \"*\"", "must be an array of strings"},
		{"negative duration", "[server]\nshutdown_timeout_ms = -1", "out of range"},
		{"bad size", "[cache]\nmax_bytes = \"64 parsecs\"", "unknown unit"},
		{"unknown default role", "[authz]\ndefault_role = \"superuser\"", "is not a built-in role"},
		{"header name", "[auth]\napi_key_header = \"X API Key\"", "is not a valid HTTP header name"},
		{"key limit", "[storage]\nmax_key_bytes = 70000", "out of range 1..65535"},
		{"missing api keys file", "[auth]\napi_keys_file = \"nope.json\"", "does not exist"},
		{"section as an array of tables", "[[health]]\nhttp_port = 9191", `c.toml:1: health: "health" must be a table: [health], not an array`},
		{"section as a value", "server = 5", `c.toml:1: server: "server" must be a table: [server], not an integer`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "c.toml", tc.toml)
			_, probs := loadAndValidate(t, path, nil, config.Overrides{})
			wantProblem(t, probs, tc.want)
		})
	}
	t.Run("sizes with units", func(t *testing.T) {
		path := writeFile(t, dir, "c.toml", "[cache]\nmax_bytes = \"32MiB\"\n[storage]\nmax_value_bytes = 1048576")
		cfg, probs := loadAndValidate(t, path, nil, config.Overrides{})
		if len(probs) > 0 || cfg.Cache.MaxBytes != 32<<20 || cfg.Storage.MaxValueBytes != 1<<20 {
			t.Fatalf("%v %d %d", probs, cfg.Cache.MaxBytes, cfg.Storage.MaxValueBytes)
		}
	})
}

func TestShowRoundTripsAndRedacts(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("k", 48)
	path := writeFile(t, dir, "c.toml", `
[server]
data_dir = "/srv/amaters"
shutdown_timeout_ms = 1500
[auth]
jwt_secret = "`+secret+`"
[middleware]
cors_origins = ["https://a.example", "*"]
[cache]
max_bytes = "8MiB"
`)
	cfg, probs := loadAndValidate(t, path, nil, config.Overrides{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	out := cfg.MarshalTOML()
	if strings.Contains(string(out), secret) || !strings.Contains(string(out), `jwt_secret = "<redacted>"`) {
		t.Fatalf("secret not redacted:\n%s", out)
	}
	// Every key is printed, and the output is a valid configuration that
	// loads back to the same values (secret aside).
	var doc map[string]map[string]any
	if _, err := toml.Decode(string(out), &doc); err != nil {
		t.Fatalf("--show output is not TOML: %v\n%s", err, out)
	}
	if len(doc) != 12 {
		t.Errorf("--show printed %d sections, want 12", len(doc))
	}
	again := writeFile(t, dir, "again.toml", strings.Replace(string(out), "<redacted>", secret, 1))
	cfg2, probs := loadAndValidate(t, again, nil, config.Overrides{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if !reflect.DeepEqual(cfg.MarshalTOML(), cfg2.MarshalTOML()) {
		t.Fatalf("round trip changed the configuration:\n%s\n---\n%s", cfg.MarshalTOML(), cfg2.MarshalTOML())
	}
	if cfg2.Server.ShutdownTimeout != 1500*time.Millisecond || cfg2.Cache.MaxBytes != 8<<20 || string(cfg2.Auth.JWTSecret) != secret {
		t.Errorf("values after round trip: %v %d", cfg2.Server.ShutdownTimeout, cfg2.Cache.MaxBytes)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Secret("hunter2-hunter2-hunter2-hunter2-hunter2")
	if strings.Contains(s.String(), "hunter2") || strings.Contains(s.LogValue().String(), "hunter2") {
		t.Fatal("secret leaks through String or LogValue")
	}
}

func FuzzConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("[server]\nbind_address = \"127.0.0.1:1\"\n"))
	f.Add([]byte("[storage]\nmax_value_bytes = \"1GiB\"\n[[x]]\na=1"))
	f.Add([]byte("a.b.c = 1\n[server]\n\"data_dir\" = '''\nmulti\n'''"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil, config.Overrides{})
		verr := cfg.Validate()
		for _, p := range problems(errors.Join(err, verr)) {
			if p == "" {
				t.Fatal("empty problem message")
			}
		}
		if err != nil || verr != nil || cfg.Auth.JWTSecret != "" {
			return
		}
		// A valid configuration survives --show and reload unchanged.
		again := filepath.Join(dir, "again.toml")
		if err := os.WriteFile(again, cfg.MarshalTOML(), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg2, err := config.Load(again, nil, config.Overrides{})
		if err != nil {
			t.Fatalf("reloading --show output: %v\n%s", err, cfg.MarshalTOML())
		}
		if string(cfg.MarshalTOML()) != string(cfg2.MarshalTOML()) {
			t.Fatalf("round trip changed the configuration:\n%s\n---\n%s", cfg.MarshalTOML(), cfg2.MarshalTOML())
		}
	})
}

// A millisecond count given in the environment is range-checked as the
// same value in the file is (1e13 ms once overflowed time.Duration into a
// negative shutdown budget).
func TestEnvDurationOutOfRange(t *testing.T) {
	env := []string{"AMATERS_SERVER_SHUTDOWN_TIMEOUT_MS=10000000000000"}
	cfg, err := config.Load("", env, config.Overrides{})
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		t.Fatalf("accepted; server.shutdown_timeout_ms is now %v (the file form of the same value is refused as out of range)", cfg.Server.ShutdownTimeout)
	}
}

// validate-config refuses a data_dir that is a regular file, which start
// cannot use (it once said OK).
func TestDataDirIsAFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "afile")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", nil, config.Overrides{DataDir: f, HealthPort: "0", Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil {
		t.Fatalf("Validate accepted server.data_dir = %s, a regular file, which start refuses", f)
	}
}

// The lines named in problems and origins come from the position scanner,
// which skips the inside of multi-line strings and arrays.
func TestKeyLines(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.toml", `top = 1
[server] # comment
"bind_address" = "127.0.0.1:1"
note = """
fake = 1
"""
list = [
  "a",
]
[storage]
engine = "lsm"
`)
	cfg, err := config.Load(path, nil, config.Overrides{})
	probs := problems(err)
	wantProblem(t, probs, path+`:1: top: unknown top-level key "top"`)
	wantProblem(t, probs, path+`:4: server.note: unknown key "note"`)
	wantProblem(t, probs, path+`:7: server.list: unknown key "list"`)
	for key, want := range map[string]string{"server.bind_address": path + ":3", "storage.engine": path + ":11"} {
		if got := cfg.Origin(key); got != want {
			t.Errorf("%s set at %q, want %q", key, got, want)
		}
	}
	if strings.Contains(strings.Join(probs, "\n"), "fake") {
		t.Errorf("a line inside a multi-line string was taken for a key: %v", probs)
	}
}

// storage.compression and storage.memory_limit_mb: the defaults, the
// accepted values, and a refusal that names the key and its line.
func TestStorageCompressionAndMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	cfg, probs := loadAndValidate(t, writeFile(t, dir, "ok.toml", "[storage]\ncompression = \"none\"\nmemory_limit_mb = 512\n"), nil, config.Overrides{})
	if len(probs) > 0 || cfg.Storage.Compression != "none" || cfg.Storage.MemoryLimitMB != 512 {
		t.Fatalf("compression %q, memory limit %d, problems %v", cfg.Storage.Compression, cfg.Storage.MemoryLimitMB, probs)
	}
	if d := config.Default(); d.Storage.Compression != "snappy" || d.Storage.MemoryLimitMB != 0 {
		t.Fatalf("defaults: compression %q, memory limit %d; want snappy, 0 (no limit)", d.Storage.Compression, d.Storage.MemoryLimitMB)
	}
	_, probs = loadAndValidate(t, writeFile(t, dir, "bad.toml", "[storage]\ncompression = \"zstd\"\nmemory_limit_mb = -1\n"), nil, config.Overrides{})
	joined := strings.Join(probs, "\n")
	if !strings.Contains(joined, "bad.toml:2: storage.compression") || !strings.Contains(joined, "storage.memory_limit_mb") {
		t.Fatalf("problems: %v", probs)
	}
}
