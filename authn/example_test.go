package authn_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"amaters-server/authn"
)

// hs256 mints a token for the examples; real tokens come from an identity
// provider.
func hs256(secret, claims string) string {
	input := enc(`{"alg":"HS256","typ":"JWT"}`) + "." + enc(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func ExampleAuthenticator_Authenticate() {
	const secret = "an-example-secret-of-at-least-32-bytes"
	jwt, err := authn.NewJWTVerifier(authn.JWTConfig{Algorithm: "HS256", Secret: secret, Audience: "amaters"})
	if err != nil {
		panic(err)
	}
	keys, err := authn.ParseAPIKeys([]byte(`[{"id":"ci","user_id":"ci-bot","roles":["user"],"collections":["builds"],
		"key_hash":"` + authn.HashAPIKey("ci-key-0001") + `"}]`))
	if err != nil {
		panic(err)
	}
	clock := func() time.Time { return time.Unix(1750000000, 0) }
	a, err := authn.New(authn.Config{JWT: jwt, APIKeys: keys, Clock: clock})
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest("GET", "/v1/status", nil)
	r.Header.Set("Authorization", "Bearer "+hs256(secret, `{"sub":"alice","aud":"amaters","exp":1750003600,"roles":["reader"],"collections":["orders"]}`))
	id, err := a.Authenticate(r)
	fmt.Println(id.Subject, id.Method, id.Roles, id.Collections, err)

	r = httptest.NewRequest("GET", "/v1/status", nil)
	r.Header.Set("X-API-Key", "ci-key-0001")
	id, err = a.Authenticate(r)
	fmt.Println(id.Subject, id.Method, id.KeyID, err)

	// An expired token is refused even though a valid API key is present:
	// the first credential found decides.
	r.Header.Set("Authorization", "Bearer "+hs256(secret, `{"sub":"alice","aud":"amaters","exp":1700000000}`))
	_, err = a.Authenticate(r)
	var ae *authn.Error
	fmt.Println(errors.As(err, &ae), ae.Method, ae.Reason, authn.Challenge(err))

	_, err = a.Authenticate(httptest.NewRequest("GET", "/v1/status", nil))
	fmt.Println(errors.Is(err, authn.ErrNoCredentials))
	// Output:
	// alice jwt [reader] [orders] <nil>
	// ci-bot api_key ci <nil>
	// true jwt expired Bearer error="invalid_token"
	// true
}

func ExampleSecret() {
	s := authn.Secret("do-not-print-me")
	fmt.Println(s)
	fmt.Printf("%v %q %#v\n", s, s, s)
	fmt.Println(len(string(s)))
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED]
	// 15
}

func ExampleHashAPIKey() {
	// The key_hash of an API keys file entry.
	fmt.Println(authn.HashAPIKey("amaters-ci-secret-key-0001"))
	// Output:
	// Da+Mrj9qx3zTQh4CtI5kl4eESXRqGGUnk75THYAzcNo=
}
