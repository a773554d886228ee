// Package jwt compares amaters-server's authn.JWTVerifier with
// github.com/golang-jwt/jwt/v5 on the same tokens with the same checks:
// the algorithm pinned, signature, exp required, iat and nbf checked, issuer
// and audience compared, a non-empty sub, and the roles and collections
// claims read out. Tokens are signed by golang-jwt, so the comparison also
// checks interoperability.
//
//	cd bench && go test -run . -bench . ./jwt/
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"amaters-server/authn"

	gojwt "github.com/golang-jwt/jwt/v5"
)

// now is the fixed verification time; tokens expire an hour later.
func now() time.Time { return time.Unix(1750000000, 0) }

type claims struct {
	gojwt.RegisteredClaims
	Roles       []string `json:"roles"`
	Collections []string `json:"collections"`
}

// fixture is one algorithm with a signed token and both verifiers.
type fixture struct {
	alg    string
	token  string
	ours   *authn.JWTVerifier
	verify func(token string) (subject string, roles []string, err error) // golang-jwt
}

func newFixture(tb testing.TB, alg string) fixture {
	tb.Helper()
	var (
		signKey   any
		verifyKey any
		method    gojwt.SigningMethod
		cfg       = authn.JWTConfig{Algorithm: alg, Issuer: "amaters-test", Audience: "amaters"}
	)
	switch alg {
	case "HS256", "HS384", "HS512":
		secret := make([]byte, 64)
		if _, err := rand.Read(secret); err != nil {
			tb.Fatal(err)
		}
		signKey, verifyKey, cfg.Secret = secret, secret, authn.Secret(secret)
		method = gojwt.GetSigningMethod(alg)
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		signKey, verifyKey, cfg.PublicKeyPEM = k, &k.PublicKey, pemKey(tb, &k.PublicKey)
		method = gojwt.SigningMethodRS256
	case "ES256", "ES384":
		c, m := elliptic.P256(), gojwt.SigningMethod(gojwt.SigningMethodES256)
		if alg == "ES384" {
			c, m = elliptic.P384(), gojwt.SigningMethodES384
		}
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		signKey, verifyKey, cfg.PublicKeyPEM, method = k, &k.PublicKey, pemKey(tb, &k.PublicKey), m
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		signKey, verifyKey, cfg.PublicKeyPEM = priv, pub, pemKey(tb, pub)
		method = gojwt.SigningMethodEdDSA
	default:
		tb.Fatalf("alg %s", alg)
	}
	c := claims{
		RegisteredClaims: gojwt.RegisteredClaims{
			Issuer:    "amaters-test",
			Subject:   "alice",
			Audience:  gojwt.ClaimStrings{"amaters"},
			ExpiresAt: gojwt.NewNumericDate(now().Add(time.Hour)),
			NotBefore: gojwt.NewNumericDate(now().Add(-time.Minute)),
			IssuedAt:  gojwt.NewNumericDate(now().Add(-time.Minute)),
		},
		Roles:       []string{"user"},
		Collections: []string{"orders", "metrics"},
	}
	token, err := gojwt.NewWithClaims(method, c).SignedString(signKey)
	if err != nil {
		tb.Fatal(err)
	}
	ours, err := authn.NewJWTVerifier(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	parser := gojwt.NewParser(
		gojwt.WithValidMethods([]string{alg}),
		gojwt.WithIssuer("amaters-test"),
		gojwt.WithAudience("amaters"),
		gojwt.WithExpirationRequired(),
		gojwt.WithIssuedAt(),
		gojwt.WithTimeFunc(now),
	)
	keyFunc := func(*gojwt.Token) (any, error) { return verifyKey, nil }
	verify := func(token string) (string, []string, error) {
		var got claims
		if _, err := parser.ParseWithClaims(token, &got, keyFunc); err != nil {
			return "", nil, err
		}
		if got.Subject == "" {
			return "", nil, errors.New("missing sub")
		}
		return got.Subject, got.Roles, nil
	}
	return fixture{alg: alg, token: token, ours: ours, verify: verify}
}

func pemKey(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func algorithms() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "ES256", "ES384", "EdDSA"}
}

// TestSameVerdicts checks that both libraries accept each golang-jwt token
// with the same result, and both refuse it with a flipped signature byte,
// an hour after expiry, or verified under a different algorithm.
func TestSameVerdicts(t *testing.T) {
	for _, alg := range algorithms() {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			id, err := f.ours.Verify(f.token, now())
			if err != nil {
				t.Fatalf("authn refuses a golang-jwt token: %v", err)
			}
			sub, roles, err := f.verify(f.token)
			if err != nil {
				t.Fatalf("golang-jwt refuses its own token: %v", err)
			}
			if id.Subject != sub || len(id.Roles) != len(roles) || id.Roles[0] != roles[0] || len(id.Collections) != 2 {
				t.Fatalf("authn %+v, golang-jwt %s %v", id, sub, roles)
			}
			b := []byte(f.token)
			b[len(b)-10] ^= 1 // a byte in the middle of the signature
			if _, err := f.ours.Verify(string(b), now()); err == nil {
				t.Error("authn accepts a flipped signature")
			}
			if _, _, err := f.verify(string(b)); err == nil {
				t.Error("golang-jwt accepts a flipped signature")
			}
			if _, err := f.ours.Verify(f.token, now().Add(2*time.Hour)); err == nil {
				t.Error("authn accepts an expired token")
			}
			otherAlg := "HS256"
			if alg == "HS256" {
				otherAlg = "EdDSA"
			}
			other := newFixture(t, otherAlg)
			if _, err := other.ours.Verify(f.token, now()); err == nil {
				t.Errorf("a %s verifier accepts a %s token", other.alg, alg)
			}
		})
	}
}

// BenchmarkVerify runs both verifiers on the same token, per algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range algorithms() {
		f := newFixture(b, alg)
		b.Run(alg+"/amaters", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.ours.Verify(f.token, now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/golang-jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := f.verify(f.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
