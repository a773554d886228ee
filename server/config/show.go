package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// MarshalTOML writes the effective configuration as TOML, every key of
// API.md §2 included, secrets redacted; `validate-config --show` prints it.
func (c *Config) MarshalTOML() []byte {
	var b strings.Builder
	section := ""
	for _, f := range c.fields() {
		sec, name, _ := strings.Cut(f.key, ".")
		if sec != section {
			if section != "" {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "[%s]\n", sec)
			section = sec
		}
		fmt.Fprintf(&b, "%s = %s\n", name, c.showValue(f))
	}
	return []byte(b.String())
}

func (c *Config) showValue(f field) string {
	q := func(s string) string {
		out, err := toml.Marshal(map[string]string{"v": s})
		if err != nil {
			return strconv.Quote(s)
		}
		return strings.TrimSpace(strings.TrimPrefix(string(out), "v = "))
	}
	switch p := f.ptr.(type) {
	case *string:
		s := *p
		if s == "" {
			switch f.key {
			case "storage.wal_dir":
				s = c.WALDir()
			case "audit.file":
				s = c.AuditFile()
			}
		}
		// Paths print absolute: a relative one would mean another place
		// once the output is saved as a file elsewhere.
		if f.path && s != "" {
			if abs, err := filepath.Abs(s); err == nil {
				s = abs
			}
		}
		return q(s)
	case *Secret:
		return q(p.String())
	case *bool:
		return strconv.FormatBool(*p)
	case *int64:
		switch f.key {
		case "middleware.rate_limit_burst":
			return strconv.FormatInt(c.RateLimitBurst(), 10)
		case "middleware.max_body_bytes":
			return strconv.FormatInt(c.MaxBodyBytes(), 10)
		case "observability.metrics_port":
			return strconv.FormatInt(c.MetricsPort(), 10)
		}
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		return strconv.FormatInt(p.Milliseconds(), 10)
	case *[]string:
		parts := make([]string, len(*p))
		for i, s := range *p {
			parts[i] = q(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic("config: unhandled field type for " + f.key)
}

// Changed lists the keys whose effective values differ between a and b, in
// the order of API.md §2, as `validate-config --show` prints them (a
// secret compares by its redacted form: set or unset).
func Changed(a, b *Config) []string {
	var out []string
	fb := b.fields()
	for i, f := range a.fields() {
		if a.showValue(f) != b.showValue(fb[i]) {
			out = append(out, f.key)
		}
	}
	return out
}
