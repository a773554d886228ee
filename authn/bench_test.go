package authn_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"amaters-server/authn"
)

// BenchmarkVerify measures full JWT verification (format, header,
// signature, claims) per algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, k := range testKeys(b) {
		tok := sign(b, k.alg, k.priv, `{"alg":"`+k.alg+`","typ":"JWT"}`, goodClaims)
		v := newVerifier(b, k.cfg)
		b.Run(k.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok, testNow()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthenticate measures a bearer token and an API key through
// Authenticate, as the middleware will call it.
func BenchmarkAuthenticate(b *testing.B) {
	k := testKeyFor(b, "HS256")
	keys, err := authn.LoadAPIKeys(keysFile)
	if err != nil {
		b.Fatal(err)
	}
	a, err := authn.New(authn.Config{JWT: newVerifier(b, k.cfg), APIKeys: keys, Clock: testNow})
	if err != nil {
		b.Fatal(err)
	}
	bearer := httptest.NewRequest("GET", "/v1/status", nil)
	bearer.Header.Set("Authorization", "Bearer "+sign(b, "HS256", k.priv, `{"alg":"HS256"}`, goodClaims))
	apiKey := httptest.NewRequest("GET", "/v1/status", nil)
	apiKey.Header.Set("X-API-Key", "amaters-ci-secret-key-0001")
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{{"bearer", bearer}, {"api_key", apiKey}} {
		req := tc.req
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAPIKeyLookup shows the linear cost of the constant-time scan.
func BenchmarkAPIKeyLookup(b *testing.B) {
	for _, n := range []int{10, 1000} {
		data := "["
		for i := range n {
			if i > 0 {
				data += ","
			}
			data += fmt.Sprintf(`{"id":"k%d","user_id":"u%d","key_hash":%q}`, i, i, authn.HashAPIKey(fmt.Sprint("key-", i)))
		}
		ks, err := authn.ParseAPIKeys([]byte(data + "]"))
		if err != nil {
			b.Fatal(err)
		}
		a, err := authn.New(authn.Config{APIKeys: ks})
		if err != nil {
			b.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-API-Key", fmt.Sprint("key-", n-1))
		b.Run(fmt.Sprint(n, "keys"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
