package server

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/server/config"
)

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5000":                "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:5000":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":      "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":         "192.0.2.7",
		"[fe80::1%eth0]:80":             "fe80::/64",
		"not-an-address":                "not-an-address",
		"@":                             "@",
		"[2001:db8:1:3::1]:5000":        "2001:db8:1:3::/64",
		"[::1]:7878":                    "::/64",
		"127.0.0.1:7878":                "127.0.0.1",
		"[2001:db8:ffff:ffff::]:65535":  "2001:db8:ffff:ffff::/64",
		"[2001:db8:ffff:fffe::9]:65535": "2001:db8:ffff:fffe::/64",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// Failed authentications spend the tokens of the client's IPv6 /64, not of
// its full address: a host cannot spread guesses over its addresses.
func TestFailedAuthLimitedByIPv6Prefix(t *testing.T) {
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("right"))
	keys := fmt.Sprintf(`[{"id": "k1", "name": "ci", "key_hash": %q, "user_id": "ci", "roles": ["user"]}]`, base64.StdEncoding.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servingInProcess(t, func(c *config.Config) {
		c.Auth.APIKeysFile = filepath.Join(dir, "keys.json")
		c.Middleware.RateLimitRPS = 1
		c.Middleware.RateLimitBurst = 3
	}, discardLog())
	h := s.apiHandler()
	try := func(remote string) int {
		r := httptest.NewRequest("GET", "/v1/status", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-API-Key", "wrong")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	var codes []int
	for i := 1; i <= 20; i++ {
		codes = append(codes, try(fmt.Sprintf("[2001:db8:0:7::%x]:4000", i)))
	}
	for i, c := range codes {
		want := http.StatusTooManyRequests
		if i < 3 {
			want = http.StatusUnauthorized
		}
		if c != want {
			t.Fatalf("attempt %d from the same /64: %d, want %d (all: %v)", i+1, c, want, codes)
		}
	}
	if c := try("[2001:db8:0:8::1]:4000"); c != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", c)
	}
}
