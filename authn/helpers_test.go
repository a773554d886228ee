package authn_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash"
	"math/big"
	"os"
	"testing"

	"amaters-server/authn"
)

// vector is one entry of testdata/jws-rfc.json (a copy of
// shared/vectors/jws-rfc.json).
type vector struct {
	ID                   string         `json:"id"`
	Alg                  string         `json:"alg"`
	Key                  jwk            `json:"key"`
	SigningKey           *jwk           `json:"signing_key"`
	Token                string         `json:"token"`
	Payload              string         `json:"payload"`
	Valid                bool           `json:"valid"`
	Check                string         `json:"check"`
	Options              *vectorOptions `json:"options"`
	AlgInServerAllowlist bool           `json:"alg_in_server_allowlist"`
	Reason               string         `json:"reason"`
}

type vectorOptions struct {
	Now      int64  `json:"now"`
	Audience string `json:"audience"`
	Issuer   string `json:"issuer"`
}

type jwk struct {
	Kty string `json:"kty"`
	K   string `json:"k"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/jws-rfc.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

func vectorByID(t testing.TB, id string) vector {
	t.Helper()
	for _, v := range loadVectors(t) {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("no vector %q", id)
	return vector{}
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("jwk member %q: %v", s, err)
	}
	return b
}

func bigInt(t testing.TB, s string) *big.Int { return new(big.Int).SetBytes(b64(t, s)) }

func curve(t testing.TB, crv string) elliptic.Curve {
	switch crv {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	t.Fatalf("curve %q", crv)
	return nil
}

// publicKey converts the public part of a JWK.
func (k jwk) publicKey(t testing.TB) crypto.PublicKey {
	t.Helper()
	switch k.Kty {
	case "RSA":
		return &rsa.PublicKey{N: bigInt(t, k.N), E: int(bigInt(t, k.E).Int64())}
	case "EC":
		return &ecdsa.PublicKey{Curve: curve(t, k.Crv), X: bigInt(t, k.X), Y: bigInt(t, k.Y)}
	case "OKP":
		return ed25519.PublicKey(b64(t, k.X))
	}
	t.Fatalf("kty %q has no public key", k.Kty)
	return nil
}

// privateKey converts a private JWK (HMAC keys come back as []byte).
func (k jwk) privateKey(t testing.TB) any {
	t.Helper()
	switch k.Kty {
	case "oct":
		return b64(t, k.K)
	case "RSA":
		priv := &rsa.PrivateKey{
			PublicKey: *k.publicKey(t).(*rsa.PublicKey),
			D:         bigInt(t, k.D),
			Primes:    []*big.Int{bigInt(t, k.P), bigInt(t, k.Q)},
		}
		priv.Precompute()
		if err := priv.Validate(); err != nil {
			t.Fatal(err)
		}
		return priv
	case "EC":
		return &ecdsa.PrivateKey{PublicKey: *k.publicKey(t).(*ecdsa.PublicKey), D: bigInt(t, k.D)}
	case "OKP":
		return ed25519.NewKeyFromSeed(b64(t, k.D))
	}
	t.Fatalf("kty %q", k.Kty)
	return nil
}

func pemPublicKey(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwtConfig is the verifier configuration a vector assumes: its alg bound to
// its key, issuer amaters-test, audience amaters and zero leeway.
func (v vector) jwtConfig(t testing.TB) authn.JWTConfig {
	t.Helper()
	cfg := authn.JWTConfig{Algorithm: v.Alg, Issuer: "amaters-test", Audience: "amaters"}
	if v.Key.Kty == "oct" {
		cfg.Secret = authn.Secret(b64(t, v.Key.K))
	} else {
		cfg.PublicKeyPEM = pemPublicKey(t, v.Key.publicKey(t))
	}
	return cfg
}

func newVerifier(t testing.TB, cfg authn.JWTConfig) *authn.JWTVerifier {
	t.Helper()
	v, err := authn.NewJWTVerifier(cfg)
	if err != nil {
		t.Fatalf("NewJWTVerifier(%s): %v", cfg.Algorithm, err)
	}
	return v
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sign makes a compact JWS of header and payload (JSON text, used verbatim)
// with key, signing as alg says.
func sign(t testing.TB, alg string, key any, header, payload string) string {
	t.Helper()
	input := enc(header) + "." + enc(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(signature(t, alg, key, []byte(input)))
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[2:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

func signature(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	if alg == "EdDSA" {
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	}
	h, newHash := hashFor(alg)
	switch k := key.(type) {
	case []byte:
		m := hmac.New(newHash, k)
		m.Write(input)
		return m.Sum(nil)
	case *rsa.PrivateKey:
		d := h.New()
		d.Write(input)
		sig, err := rsa.SignPKCS1v15(nil, k, h, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		d := h.New()
		d.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	t.Fatalf("no signer for %T", key)
	return nil
}

// testKeys are signing keys and matching verifier configs for every
// supported algorithm, taken from the RFC vectors so no test generates keys.
type testKey struct {
	alg  string
	priv any
	cfg  authn.JWTConfig
}

func testKeys(t testing.TB) []testKey {
	t.Helper()
	sources := []struct{ alg, id string }{
		{"HS256", "rfc7515-a1-hs256"},
		{"HS384", "derived-hs384"},
		{"HS512", "derived-hs512"},
		{"RS256", "rfc7515-a2-rs256"},
		{"RS384", "derived-rs384"},
		{"RS512", "derived-rs512"},
		{"ES256", "rfc7515-a3-es256"},
		{"ES384", "derived-es384"},
		{"EdDSA", "rfc8037-a4-eddsa"},
	}
	vs := loadVectors(t)
	var out []testKey
	for _, s := range sources {
		for _, v := range vs {
			if v.ID != s.id {
				continue
			}
			k := testKey{alg: s.alg, cfg: v.jwtConfig(t)}
			k.cfg.Algorithm = s.alg
			if v.SigningKey != nil {
				k.priv = v.SigningKey.privateKey(t)
			} else {
				k.priv = v.Key.privateKey(t)
			}
			out = append(out, k)
		}
	}
	if len(out) != len(sources) {
		t.Fatalf("found %d of %d test keys", len(out), len(sources))
	}
	return out
}

func testKeyFor(t testing.TB, alg string) testKey {
	t.Helper()
	for _, k := range testKeys(t) {
		if k.alg == alg {
			return k
		}
	}
	t.Fatalf("no test key for %s", alg)
	return testKey{}
}

// wantReason fails unless err is an *authn.Error with the given reason.
func wantReason(t testing.TB, err error, reason string) {
	t.Helper()
	var ae *authn.Error
	if reason == "" {
		if err != nil {
			t.Fatalf("got error %v, want success", err)
		}
		return
	}
	switch {
	case err == nil:
		t.Fatalf("got success, want reason %s", reason)
	case !errors.As(err, &ae):
		t.Fatalf("got %v (%T), want *authn.Error with reason %s", err, err, reason)
	case ae.Reason != reason:
		t.Fatalf("got reason %s (%v), want %s", ae.Reason, err, reason)
	}
	if !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Fatalf("%v does not wrap ErrInvalidCredentials", err)
	}
}
