package authn_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"amaters-server/authn"
)

// testNow is the fixed clock of the JWT tests (the vectors' options.now).
func testNow() time.Time { return time.Unix(1750000000, 0) }

const goodClaims = `{"iss":"amaters-test","sub":"alice","aud":"amaters","exp":1750003600,"roles":["user"],"collections":["orders"]}`

// TestVerifyEveryAlgorithm mints a token with each supported algorithm and
// checks that it verifies, that one flipped bit in the signature is refused,
// and that every other algorithm's verifier refuses it on its header.
func TestVerifyEveryAlgorithm(t *testing.T) {
	keys := testKeys(t)
	for _, k := range keys {
		t.Run(k.alg, func(t *testing.T) {
			tok := sign(t, k.alg, k.priv, `{"alg":"`+k.alg+`","typ":"JWT"}`, goodClaims)
			id, err := newVerifier(t, k.cfg).Verify(tok, testNow())
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "alice" || id.Method != authn.MethodJWT ||
				!slices.Equal(id.Roles, []string{"user"}) || !slices.Equal(id.Collections, []string{"orders"}) ||
				!id.ExpiresAt.Equal(time.Unix(1750003600, 0)) {
				t.Fatalf("identity %+v", id)
			}
			i := strings.LastIndexByte(tok, '.')
			sig := []byte(tok[i+1:])
			// Flip a bit of the first signature character, which is
			// always fully significant (the last one may carry padding
			// bits that are refused as malformed instead).
			sig[0] = flipB64(sig[0])
			_, err = newVerifier(t, k.cfg).Verify(tok[:i+1]+string(sig), testNow())
			wantReason(t, err, authn.ReasonSignature)
			for _, other := range keys {
				if other.alg == k.alg {
					continue
				}
				_, err := newVerifier(t, other.cfg).Verify(tok, testNow())
				wantReason(t, err, authn.ReasonAlgorithm)
			}
		})
	}
}

// flipB64 returns a base64url character whose value differs from c's in the
// lowest bit.
func flipB64(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[strings.IndexByte(alphabet, c)^1]
}

func TestVerifyClaims(t *testing.T) {
	k := testKeyFor(t, "HS256")
	tests := []struct {
		name   string
		claims string
		leeway time.Duration
		noAud  bool // verifier without issuer and audience
		want   string
		check  func(t *testing.T, id authn.Identity)
	}{
		{name: "ok", claims: goodClaims},
		{name: "exp fraction", claims: `{"sub":"a","exp":1750000000.5,"iss":"amaters-test","aud":"amaters"}`},
		{name: "exp equals now", claims: `{"sub":"a","exp":1750000000,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonExpired},
		{name: "exp within leeway", claims: `{"sub":"a","exp":1749999971,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second},
		{name: "exp at leeway edge", claims: `{"sub":"a","exp":1749999970,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second, want: authn.ReasonExpired},
		{name: "exp exponent", claims: `{"sub":"a","exp":1.8e9,"iss":"amaters-test","aud":"amaters"}`},
		{name: "exp huge", claims: `{"sub":"a","exp":1e400,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "exp null", claims: `{"sub":"a","exp":null,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "exp string", claims: `{"sub":"a","exp":"1750003600","iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "missing exp", claims: `{"sub":"a","iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonMissingExp},
		{name: "nbf within leeway", claims: `{"sub":"a","exp":1750003600,"nbf":1750000030,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second},
		{name: "nbf past leeway", claims: `{"sub":"a","exp":1750003600,"nbf":1750000031,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second, want: authn.ReasonNotYetValid},
		{name: "iat within leeway", claims: `{"sub":"a","exp":1750003600,"iat":1750000030,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second},
		{name: "iat past leeway", claims: `{"sub":"a","exp":1750003600,"iat":1750000031,"iss":"amaters-test","aud":"amaters"}`, leeway: 30 * time.Second, want: authn.ReasonIssuedInFuture},
		{name: "missing sub", claims: `{"exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonMissingSub},
		{name: "empty sub", claims: `{"sub":"","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonMissingSub},
		{name: "sub number", claims: `{"sub":7,"exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "missing iss", claims: `{"sub":"a","exp":1750003600,"aud":"amaters"}`, want: authn.ReasonIssuer},
		{name: "iss array", claims: `{"sub":"a","exp":1750003600,"iss":["amaters-test"],"aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "aud array", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":["x","amaters"]}`},
		{name: "aud array of other", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":["x","y"]}`, want: authn.ReasonAudience},
		{name: "aud empty array", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":[]}`, want: authn.ReasonAudience},
		{name: "aud empty string", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":""}`, want: authn.ReasonAudience},
		{name: "aud array with number", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":["amaters",1]}`, want: authn.ReasonClaims},
		{name: "aud unchecked when unset", claims: `{"sub":"a","exp":1750003600,"aud":"elsewhere","iss":"anyone"}`, noAud: true},
		{name: "aud still typed when unset", claims: `{"sub":"a","exp":1750003600,"aud":{}}`, noAud: true, want: authn.ReasonClaims},
		// Only "roles" gives roles (API.md §4): a "role" claim, which other
		// issuers use with their own meaning, is ignored like any other.
		{name: "role string ignored", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","role":"admin"}`,
			check: func(t *testing.T, id authn.Identity) { wantStrings(t, id.Roles) }},
		{name: "roles and role", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","roles":["reader"],"role":"admin"}`,
			check: func(t *testing.T, id authn.Identity) { wantStrings(t, id.Roles, "reader") }},
		{name: "roles not array", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","roles":"admin"}`, want: authn.ReasonClaims},
		{name: "role of another type ignored", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","role":["admin"]}`,
			check: func(t *testing.T, id authn.Identity) { wantStrings(t, id.Roles) }},
		{name: "collections star", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","collections":["*"]}`,
			check: func(t *testing.T, id authn.Identity) { wantStrings(t, id.Collections, "*") }},
		{name: "collections not strings", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","collections":[{"name":"x"}]}`, want: authn.ReasonClaims},
		{name: "escaped strings", claims: `{"sub":"\u0061lice\n\ud83d\ude00","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`,
			check: func(t *testing.T, id authn.Identity) {
				if id.Subject != "alice\n\U0001F600" {
					t.Errorf("subject %q", id.Subject)
				}
			}},
		{name: "lone surrogate", claims: `{"sub":"\ud83d","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "invalid utf8", claims: "{\"sub\":\"a\xff\",\"exp\":1750003600,\"iss\":\"amaters-test\",\"aud\":\"amaters\"}", want: authn.ReasonClaims},
		{name: "duplicate sub", claims: `{"sub":"alice","sub":"admin","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "case variant sub", claims: `{"sub":"alice","Sub":"admin","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "escaped duplicate sub", claims: `{"sub":"alice","\u0073ub":"admin","exp":1750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "duplicate custom claim", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","x":1,"X":2}`, want: authn.ReasonClaims},
		{name: "many claims with duplicate", claims: manyClaims(40, true), want: authn.ReasonClaims},
		{name: "many claims", claims: manyClaims(40, false)},
		{name: "too many claims", claims: manyClaims(300, false), want: authn.ReasonClaims},
		{name: "nested custom claims", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","x":{"y":[1,2.5e-3,true,false,null,{"z":"w"}]}}`},
		{name: "too deep", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, want: authn.ReasonClaims},
		{name: "leading zero", claims: `{"sub":"a","exp":01750003600,"iss":"amaters-test","aud":"amaters"}`, want: authn.ReasonClaims},
		{name: "trailing comma", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters",}`, want: authn.ReasonClaims},
		{name: "whitespace around", claims: " \r\n\t{\"sub\":\"a\" , \"exp\" :1750003600,\"iss\":\"amaters-test\",\"aud\":\"amaters\"}\n"},
		{name: "two objects", claims: `{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters"}{}`, want: authn.ReasonClaims},
		{name: "empty payload", claims: ``, want: authn.ReasonClaims},
		{name: "null", claims: `null`, want: authn.ReasonClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.cfg
			cfg.Leeway = tc.leeway
			if tc.noAud {
				cfg.Issuer, cfg.Audience = "", ""
			}
			tok := sign(t, "HS256", k.priv, `{"alg":"HS256"}`, tc.claims)
			id, err := newVerifier(t, cfg).Verify(tok, testNow())
			wantReason(t, err, tc.want)
			if err == nil && tc.check != nil {
				tc.check(t, id)
			}
		})
	}
}

func manyClaims(n int, dup bool) string {
	var b strings.Builder
	b.WriteString(`{"sub":"a","exp":1750003600,"iss":"amaters-test","aud":"amaters"`)
	for i := range n {
		fmt.Fprintf(&b, `,"c%d":%d`, i, i)
	}
	if dup {
		b.WriteString(`,"C7":0`)
	}
	b.WriteString("}")
	return b.String()
}

func wantStrings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestVerifyHeader(t *testing.T) {
	k := testKeyFor(t, "HS256")
	tests := []struct {
		name, header, want string
	}{
		{"minimal", `{"alg":"HS256"}`, ""},
		{"typ JWT", `{"alg":"HS256","typ":"JWT"}`, ""},
		{"typ lower", `{"alg":"HS256","typ":"jwt"}`, ""},
		{"typ application/jwt", `{"alg":"HS256","typ":"application/jwt"}`, ""},
		{"typ at+jwt", `{"alg":"HS256","typ":"at+jwt"}`, ""},
		{"typ other", `{"alg":"HS256","typ":"secevent+jwt"}`, authn.ReasonType},
		{"typ number", `{"alg":"HS256","typ":1}`, authn.ReasonType},
		{"cty nested JWT", `{"alg":"HS256","cty":"JWT"}`, authn.ReasonType},
		{"kid ignored", `{"alg":"HS256","kid":"unknown-key"}`, ""},
		{"x5u ignored", `{"alg":"HS256","x5u":"https://attacker.example.invalid/c.pem"}`, ""},
		{"alg missing", `{"typ":"JWT"}`, authn.ReasonBadHeader},
		{"alg null", `{"alg":null}`, authn.ReasonBadHeader},
		{"alg escaped", `{"alg":"HS\u003256"}`, ""},
		{"alg with space", `{"alg":"HS256 "}`, authn.ReasonAlgorithm},
		{"alg lower", `{"alg":"hs256"}`, authn.ReasonAlgorithm},
		{"alg none", `{"alg":"none"}`, authn.ReasonAlgorithm},
		{"Alg beside alg", `{"alg":"HS256","Alg":"none"}`, authn.ReasonBadHeader},
		{"escaped duplicate alg", `{"alg":"HS256","\u0061lg":"none"}`, authn.ReasonBadHeader},
		{"kelvin sign variant", `{"alg":"HS256","kid":"a","\u212aid":"b"}`, authn.ReasonBadHeader},
		{"crit empty", `{"alg":"HS256","crit":[]}`, authn.ReasonCrit},
		{"crit b64", `{"alg":"HS256","crit":["b64"],"b64":false}`, authn.ReasonCrit},
		{"header array", `["alg","HS256"]`, authn.ReasonBadHeader},
		{"header string", `"HS256"`, authn.ReasonBadHeader},
		{"header trailing", `{"alg":"HS256"}x`, authn.ReasonBadHeader},
		{"header comment", `{"alg":"HS256"/**/}`, authn.ReasonBadHeader},
		{"header single quotes", `{'alg':'HS256'}`, authn.ReasonBadHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, "HS256", k.priv, tc.header, goodClaims)
			_, err := newVerifier(t, k.cfg).Verify(tok, testNow())
			wantReason(t, err, tc.want)
		})
	}
}

func TestVerifyFormat(t *testing.T) {
	k := testKeyFor(t, "HS256")
	good := sign(t, "HS256", k.priv, `{"alg":"HS256"}`, goodClaims)
	h, p, s := splitToken(good)
	tests := []struct {
		name, token, want string
	}{
		{"good", good, ""},
		{"empty", "", authn.ReasonMalformed},
		{"one segment", h, authn.ReasonMalformed},
		{"two segments", h + "." + p, authn.ReasonMalformed},
		{"four segments", good + ".", authn.ReasonMalformed},
		{"five segments", good + "." + s + "." + s, authn.ReasonMalformed},
		{"only dots", "..", authn.ReasonMalformed},
		{"empty header", "." + p + "." + s, authn.ReasonMalformed},
		{"empty signature", h + "." + p + ".", authn.ReasonSignature},
		{"padding", good + "=", authn.ReasonMalformed},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+", authn.ReasonMalformed},
		{"space", h + ". " + p + "." + s, authn.ReasonMalformed},
		{"newline", h + "\n." + p + "." + s, authn.ReasonMalformed},
		{"CR inside", h[:4] + "\r" + h[4:] + "." + p + "." + s, authn.ReasonMalformed},
		{"impossible length", h + "." + p + "." + s[:len(s)-2], authn.ReasonMalformed},
		{"at cap", padToken(t, k, authn.MaxTokenBytes), ""},
		{"over cap", padToken(t, k, authn.MaxTokenBytes+1), authn.ReasonTooLarge},
		{"many dots", strings.Repeat(".", 100000), authn.ReasonTooLarge},
		{"many dots under cap", strings.Repeat(".", 8000), authn.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newVerifier(t, k.cfg).Verify(tc.token, testNow())
			wantReason(t, err, tc.want)
		})
	}
}

// padToken returns a valid HS256 token of exactly n bytes.
func padToken(t *testing.T, k testKey, n int) string {
	t.Helper()
	for pad := n - 200; pad > 0; pad-- {
		claims := `{"iss":"amaters-test","sub":"alice","aud":"amaters","exp":1750003600,"pad":"` + strings.Repeat("x", pad) + `"}`
		tok := sign(t, "HS256", k.priv, `{"alg":"HS256"}`, claims)
		if len(tok) == n {
			return tok
		}
		if len(tok) < n {
			claims = `{"iss":"amaters-test","sub":"alice","aud":"amaters","exp":1750003600,"pad":"` + strings.Repeat("x", pad) + `","p":1}`
			for _, extra := range []string{"", " ", "  ", "   "} {
				tok = sign(t, "HS256", k.priv, `{"alg":"HS256"}`+extra, claims)
				if len(tok) == n {
					return tok
				}
			}
		}
	}
	t.Fatalf("cannot build a %d-byte token", n)
	return ""
}

func splitToken(tok string) (h, p, s string) {
	parts := strings.Split(tok, ".")
	return parts[0], parts[1], parts[2]
}

// TestVerifyHugeInputsAllocateLittle checks that oversized and dot-flooded
// tokens are refused in O(1) memory (CVE-2025-22868, CVE-2025-30204).
func TestVerifyHugeInputsAllocateLittle(t *testing.T) {
	k := testKeyFor(t, "HS256")
	v := newVerifier(t, k.cfg)
	for _, tok := range []string{strings.Repeat(".", 100000), strings.Repeat("A", 1<<20), strings.Repeat("A.", 4000)} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := v.Verify(tok, testNow()); err == nil {
				t.Fatal("accepted")
			}
		})
		if allocs > 1 {
			t.Errorf("%d-byte token: %.0f allocations, want at most 1 (the error)", len(tok), allocs)
		}
	}
}

// TestVerifyECDSASignatureForms checks the raw r||s rules directly: each
// malformed signature is built from a valid one.
func TestVerifyECDSASignatureForms(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384"} {
		k := testKeyFor(t, alg)
		v := newVerifier(t, k.cfg)
		tok := sign(t, alg, k.priv, `{"alg":"`+alg+`"}`, goodClaims)
		i := strings.LastIndexByte(tok, '.')
		sig := b64(t, tok[i+1:])
		size := len(sig) / 2
		n := k.priv.(*ecdsa.PrivateKey).Curve.Params().N
		nBytes := n.FillBytes(make([]byte, size))
		nMinusR := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[size:])).FillBytes(make([]byte, size))
		forms := []struct {
			name string
			sig  []byte
			want string
		}{
			{"valid", sig, ""},
			{"high s twin", append(slices.Clone(sig[:size]), nMinusR...), ""},
			{"zero", make([]byte, 2*size), authn.ReasonSignature},
			{"r zero", append(make([]byte, size), sig[size:]...), authn.ReasonSignature},
			{"s zero", append(slices.Clone(sig[:size]), make([]byte, size)...), authn.ReasonSignature},
			{"r equals n", append(slices.Clone(nBytes), sig[size:]...), authn.ReasonSignature},
			{"s equals n", append(slices.Clone(sig[:size]), nBytes...), authn.ReasonSignature},
			{"one byte short", sig[:len(sig)-1], authn.ReasonSignature},
			{"one byte long", append(slices.Clone(sig), 0), authn.ReasonSignature},
			{"der", derSignature(sig), authn.ReasonSignature},
		}
		for _, f := range forms {
			t.Run(alg+"/"+f.name, func(t *testing.T) {
				_, err := v.Verify(tok[:i+1]+encBytes(f.sig), testNow())
				wantReason(t, err, f.want)
			})
		}
	}
}

func encBytes(b []byte) string { return enc(string(b)) }

func derSignature(raw []byte) []byte {
	size := len(raw) / 2
	r, s := new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])
	der, err := asn1Marshal(r, s)
	if err != nil {
		panic(err)
	}
	return der
}

func asn1Marshal(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

func TestNewJWTVerifierErrors(t *testing.T) {
	rsaKey := testKeyFor(t, "RS256").cfg.PublicKeyPEM
	p256 := testKeyFor(t, "ES256").cfg.PublicKeyPEM
	p384 := testKeyFor(t, "ES384").cfg.PublicKeyPEM
	ed := testKeyFor(t, "EdDSA").cfg.PublicKeyPEM
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024 := pemPublicKey(t, &small.PublicKey)
	secret := func(n int) authn.Secret { return authn.Secret(strings.Repeat("k", n)) }
	tests := []struct {
		name    string
		cfg     authn.JWTConfig
		wantErr error  // nil: any error
		wantMsg string // substring of the message
	}{
		{"none", authn.JWTConfig{Algorithm: "none", Secret: secret(64)}, authn.ErrUnsupportedAlgorithm, ""},
		{"empty alg", authn.JWTConfig{Secret: secret(64)}, authn.ErrUnsupportedAlgorithm, ""},
		{"lower case", authn.JWTConfig{Algorithm: "hs256", Secret: secret(64)}, authn.ErrUnsupportedAlgorithm, ""},
		{"PS256", authn.JWTConfig{Algorithm: "PS256", PublicKeyPEM: rsaKey}, authn.ErrUnsupportedAlgorithm, ""},
		{"ES512", authn.JWTConfig{Algorithm: "ES512", PublicKeyPEM: p256}, authn.ErrUnsupportedAlgorithm, ""},
		{"HS256 31 bytes", authn.JWTConfig{Algorithm: "HS256", Secret: secret(31)}, authn.ErrWeakKey, "32"},
		{"HS384 47 bytes", authn.JWTConfig{Algorithm: "HS384", Secret: secret(47)}, authn.ErrWeakKey, "48"},
		{"HS512 63 bytes", authn.JWTConfig{Algorithm: "HS512", Secret: secret(63)}, authn.ErrWeakKey, "64"},
		{"change-me", authn.JWTConfig{Algorithm: "HS256", Secret: "change-me"}, authn.ErrWeakKey, "placeholder"},
		{"no secret", authn.JWTConfig{Algorithm: "HS256"}, authn.ErrWeakKey, ""},
		{"PEM as secret", authn.JWTConfig{Algorithm: "HS256", Secret: authn.Secret(rsaKey)}, authn.ErrKeyMismatch, "PEM"},
		{"HS with public key", authn.JWTConfig{Algorithm: "HS256", Secret: secret(64), PublicKeyPEM: rsaKey}, authn.ErrKeyMismatch, ""},
		{"RS with secret", authn.JWTConfig{Algorithm: "RS256", Secret: secret(64), PublicKeyPEM: rsaKey}, authn.ErrKeyMismatch, ""},
		{"RS without key", authn.JWTConfig{Algorithm: "RS256"}, nil, "needs a public key"},
		{"RSA 1024", authn.JWTConfig{Algorithm: "RS256", PublicKeyPEM: rsa1024}, authn.ErrWeakKey, "1024 bits"},
		{"RS with EC key", authn.JWTConfig{Algorithm: "RS256", PublicKeyPEM: p256}, authn.ErrKeyMismatch, ""},
		{"ES256 with P-384", authn.JWTConfig{Algorithm: "ES256", PublicKeyPEM: p384}, authn.ErrKeyMismatch, "P-256"},
		{"ES384 with P-256", authn.JWTConfig{Algorithm: "ES384", PublicKeyPEM: p256}, authn.ErrKeyMismatch, "P-384"},
		{"EdDSA with RSA", authn.JWTConfig{Algorithm: "EdDSA", PublicKeyPEM: rsaKey}, authn.ErrKeyMismatch, ""},
		{"ES256 with Ed25519", authn.JWTConfig{Algorithm: "ES256", PublicKeyPEM: ed}, authn.ErrKeyMismatch, ""},
		{"garbage PEM", authn.JWTConfig{Algorithm: "ES256", PublicKeyPEM: []byte("not pem")}, nil, "no PEM block"},
		{"negative leeway", authn.JWTConfig{Algorithm: "HS256", Secret: secret(64), Leeway: -time.Second}, nil, "leeway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authn.NewJWTVerifier(tc.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			if tc.cfg.Secret != "" && len(tc.cfg.Secret) >= 16 && strings.Contains(err.Error(), string(tc.cfg.Secret)) {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub := testKeyFor(t, "RS256").priv.(*rsa.PrivateKey).Public().(*rsa.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"}, NotBefore: testNow(), NotAfter: testNow().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecPriv.PublicKey, ecPriv)
	if err != nil {
		t.Fatal(err)
	}
	ecPrivDER, err := x509.MarshalECPrivateKey(ecPriv)
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name    string
		pem     []byte
		wantMsg string // empty: success
	}{
		{"PKIX RSA", pemPublicKey(t, rsaPub), ""},
		{"PKCS1 RSA", block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(rsaPub)), ""},
		{"certificate", block("CERTIFICATE", certDER), ""},
		{"EC parameters first", append(block("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemPublicKey(t, &ecPriv.PublicKey)...), ""},
		{"private key", block("EC PRIVATE KEY", ecPrivDER), "private key"},
		{"unknown block", block("SOMETHING", []byte{1}), "unsupported PEM block"},
		{"corrupt key", block("PUBLIC KEY", []byte{1, 2, 3}), "PUBLIC KEY block"},
		{"empty", nil, "no PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := authn.ParsePublicKey(tc.pem)
			if tc.wantMsg == "" {
				if err != nil || k == nil {
					t.Fatalf("ParsePublicKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantMsg)
			}
		})
	}
	if _, ok := must(authn.ParsePublicKey(pemPublicKey(t, ed25519.PublicKey(make([]byte, 32))))).(ed25519.PublicKey); !ok {
		t.Error("Ed25519 PKIX key not returned as ed25519.PublicKey")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var verbatimSecret = authn.Secret("0123456789abcdef0123456789abcdef-review")

// signHS256Verbatim signs header.payload (JSON text, used verbatim) with
// verbatimSecret.
func signHS256Verbatim(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	m := hmac.New(sha256.New, []byte(verbatimSecret))
	m.Write([]byte(input))
	return input + "." + enc(m.Sum(nil))
}

// API.md §4 gives roles through the "roles" claim only. A singular "role"
// claim once added a role; many issuers use "role" with their own meaning
// (Supabase "role":"service_role", "role":"admin" for another application),
// so a token minted for something else could gain a server role.
func TestSingularRoleClaimGivesNoRole(t *testing.T) {
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Algorithm: "HS256", Secret: verbatimSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok := signHS256Verbatim(`{"alg":"HS256"}`, `{"sub":"bob","exp":4102444800,"roles":["reader"],"role":"admin"}`)
	id, err := v.Verify(tok, time.Unix(1750000000, 0))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if slices.Contains(id.Roles, "admin") {
		t.Errorf("roles = %q: the non-contract \"role\" claim granted admin; API.md §4 defines only \"roles\"", id.Roles)
	}
}
