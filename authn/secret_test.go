package authn_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"amaters-server/authn"
)

func TestSecretRedacts(t *testing.T) {
	const value = "super-secret-hmac-key-0123456789abcdef"
	s := authn.Secret(value)
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "secret", s)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "secret", s)
	js, err := json.Marshal(struct{ S authn.Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%s": fmt.Sprintf("%s", s), "%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", s),
		"%#v": fmt.Sprintf("%#v", s), "%q": fmt.Sprintf("%q", s), "%x": fmt.Sprintf("%x", s),
		"%d": fmt.Sprintf("%d", s), "struct": fmt.Sprintf("%+v", struct{ S authn.Secret }{s}),
		"slog": logBuf.String(), "json": string(js),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s reveals the secret: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s: %q does not say REDACTED", name, out)
		}
	}
	if string(s) != value {
		t.Error("explicit conversion must still give the value")
	}
}
