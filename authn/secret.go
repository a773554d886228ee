package authn

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a string that never shows itself: fmt, log/slog, encoding/json
// and encoding/text print "[REDACTED]" instead of the value. Use it for the
// HMAC secret and anything else that must stay out of logs and dumps, and
// convert explicitly (string(s), []byte(s)) at the one place that needs the
// value. The zero value is the empty secret.
type Secret string

const redacted = "[REDACTED]"

// String returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v hides the value too.
func (Secret) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb, including the ones (%d, %x)
// that fmt would otherwise apply to the underlying string.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns "[REDACTED]" for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[REDACTED]", so JSON and TOML encoders (for example a
// configuration dump) hide the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
