package authn_test

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"amaters-server/authn"
)

const keysFile = "testdata/apikeys/api_keys.json"

func keyAuthenticator(t *testing.T, clock time.Time) *authn.Authenticator {
	t.Helper()
	ks, err := authn.LoadAPIKeys(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(authn.Config{APIKeys: ks, Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAPIKeys(t *testing.T) {
	a := keyAuthenticator(t, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name, key, want string
		subject, keyID  string
		roles, colls    []string
	}{
		{name: "valid", key: "amaters-ci-secret-key-0001", subject: "ci-bot", keyID: "ci", roles: []string{"user"}, colls: []string{"builds", "artifacts"}},
		{name: "valid with expiry ahead", key: "amaters-reader-key-0002", subject: "dashboard", keyID: "dash", roles: []string{"reader"}, colls: []string{"*"}},
		{name: "expired", key: "amaters-expired-key-0003", want: authn.ReasonExpired},
		{name: "wrong key", key: "amaters-ci-secret-key-0002", want: authn.ReasonUnknownKey},
		{name: "hash instead of key", key: "Da+Mrj9qx3zTQh4CtI5kl4eESXRqGGUnk75THYAzcNo=", want: authn.ReasonUnknownKey},
		{name: "prefix of key", key: "amaters-ci-secret-key-000", want: authn.ReasonUnknownKey},
		{name: "too long", key: strings.Repeat("k", authn.MaxAPIKeyBytes+1), want: authn.ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/status", nil)
			r.Header.Set("X-API-Key", tc.key)
			id, err := a.Authenticate(r)
			wantReason(t, err, tc.want)
			if err != nil {
				return
			}
			if id.Method != authn.MethodAPIKey || id.Subject != tc.subject || id.KeyID != tc.keyID {
				t.Errorf("identity %+v", id)
			}
			wantStrings(t, id.Roles, tc.roles...)
			wantStrings(t, id.Collections, tc.colls...)
		})
	}
}

func TestAPIKeyExpiryBoundary(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{exp.Add(-time.Nanosecond), ""},
		{exp, authn.ReasonExpired},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-API-Key", "amaters-reader-key-0002")
		_, err := keyAuthenticator(t, tc.at).Authenticate(r)
		wantReason(t, err, tc.want)
	}
}

func TestHashAPIKey(t *testing.T) {
	// Same value as: printf %s amaters-ci-secret-key-0001 | openssl dgst -sha256 -binary | base64
	if got, want := authn.HashAPIKey("amaters-ci-secret-key-0001"), "Da+Mrj9qx3zTQh4CtI5kl4eESXRqGGUnk75THYAzcNo="; got != want {
		t.Errorf("HashAPIKey = %s, want %s", got, want)
	}
}

func TestParseAPIKeysErrors(t *testing.T) {
	const h1 = `"Da+Mrj9qx3zTQh4CtI5kl4eESXRqGGUnk75THYAzcNo="`
	const h2 = `"pgG2MnYVDm3M8cJeQCB2Yo4is/J7bXZK+5SI8bx9ImQ="`
	tests := []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"empty file", "", []string{"empty file"}},
		{"null", "null", []string{"got null"}},
		{"object", `{"keys":[]}`, []string{"want an array of key entries"}},
		{"syntax", "[\n{\"id\": \"a\",\n}\n]", []string{"line 3"}},
		{"trailing data", `[] []`, []string{"line 1"}},
		{"entry not object", `[1]`, []string{"entry #1", "want a JSON object"}},
		{"missing fields", `[{}]`, []string{"entry #1: id is required", "user_id is required", "key_hash is required"}},
		{"bad hash", `[{"id":"a","user_id":"u","key_hash":"abc"}]`, []string{`entry #1 (id "a")`, "32-byte SHA-256"}},
		{"hex hash", `[{"id":"a","user_id":"u","key_hash":"0da98cae3f6ac77cd3421e02b48e64978784496a4618652793be531d803370da"}]`, []string{"32-byte SHA-256"}},
		{"plaintext key", `[{"id":"a","user_id":"u","key":"secret","key_hash":` + h1 + `}]`, []string{`plaintext "key"`}},
		{"unknown member", `[{"id":"a","user_id":"u","key_hash":` + h1 + `,"expires_at":"2030-01-01T00:00:00Z"}]`, []string{`unknown member "expires_at"`}},
		{"case variant member", `[{"ID":"a","user_id":"u","key_hash":` + h1 + `}]`, []string{`unknown member "ID"`}},
		{"roles not array", `[{"id":"a","user_id":"u","key_hash":` + h1 + `,"roles":"admin"}]`, []string{"roles: got JSON string, want an array of strings"}},
		{"empty role", `[{"id":"a","user_id":"u","key_hash":` + h1 + `,"roles":[""]}]`, []string{"empty name"}},
		{"bad expiry", `[{"id":"a","user_id":"u","key_hash":` + h1 + `,"attributes":{"expires_at":"tomorrow"}}]`, []string{"RFC 3339"}},
		{"duplicate id", `[{"id":"a","user_id":"u","key_hash":` + h1 + `},{"id":"a","user_id":"v","key_hash":` + h2 + `}]`, []string{"entry #2", "duplicate id"}},
		{"duplicate hash", `[{"id":"a","user_id":"u","key_hash":` + h1 + `},{"id":"b","user_id":"v","key_hash":` + h1 + `}]`, []string{`entry #2 (id "b")`, "same key_hash as entry #1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := authn.ParseAPIKeys([]byte(tc.data))
			if err == nil {
				t.Fatalf("accepted, %d keys", ks.Len())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadAPIKeys(t *testing.T) {
	ks, err := authn.LoadAPIKeys(keysFile)
	if err != nil || ks.Len() != 3 {
		t.Fatalf("LoadAPIKeys = %d keys, %v", ks.Len(), err)
	}
	if _, err := authn.LoadAPIKeys(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("[{}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.LoadAPIKeys(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("error %v does not name the file", err)
	}
	empty, err := authn.ParseAPIKeys([]byte("[]"))
	if err != nil || empty.Len() != 0 {
		t.Errorf("empty array: %d keys, %v", empty.Len(), err)
	}
}

// A misspelt expires_at (expiresAt, expiry, ...) would leave a key that
// never expires: refused at load. Other attributes are the operator's.
func TestAPIKeyExpiryTypoRefused(t *testing.T) {
	hash := authn.HashAPIKey("k")
	for _, name := range []string{"expiresAt", "Expires-At", "expiry", "expiration", "exp", "valid_until"} {
		_, err := authn.ParseAPIKeys([]byte(`[{"id":"a","key_hash":"` + hash + `","user_id":"u","attributes":{"` + name + `":"2027-01-01T00:00:00Z"}}]`))
		if err == nil || !strings.Contains(err.Error(), "did you mean attributes.expires_at") {
			t.Errorf("attribute %q: %v", name, err)
		}
	}
	if _, err := authn.ParseAPIKeys([]byte(`[{"id":"a","key_hash":"` + hash + `","user_id":"u","attributes":{"team":"ops","expires_at":"2027-01-01T00:00:00Z"}}]`)); err != nil {
		t.Errorf("an attribute of the operator's own: %v", err)
	}
}
