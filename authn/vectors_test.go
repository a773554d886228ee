package authn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"amaters-server/authn"
)

// vectorReasons returns the reason each invalid vector must be refused
// with, so a vector cannot pass by failing for an unrelated cause. Vectors
// whose alg is outside the allow-list fail earlier, at NewJWTVerifier.
func vectorReasons() map[string]string {
	return map[string]string{
		"bad-hs256-flipped-sig":            authn.ReasonSignature,
		"bad-rs256-flipped-sig":            authn.ReasonSignature,
		"bad-es256-flipped-sig":            authn.ReasonSignature,
		"bad-eddsa-flipped-sig":            authn.ReasonSignature,
		"bad-hs256-wrong-key":              authn.ReasonSignature,
		"bad-hs256-payload-modified":       authn.ReasonSignature,
		"bad-alg-none-empty-sig":           authn.ReasonAlgorithm,
		"bad-alg-None-empty-sig":           authn.ReasonAlgorithm,
		"bad-alg-NONE-empty-sig":           authn.ReasonAlgorithm,
		"bad-alg-nOnE-empty-sig":           authn.ReasonAlgorithm,
		"bad-alg-none-with-sig":            authn.ReasonAlgorithm,
		"bad-alg-rs256-to-rs512":           authn.ReasonAlgorithm,
		"bad-alg-rs256-to-ps256":           authn.ReasonAlgorithm,
		"bad-keyconfusion-rs256-as-hs256":  authn.ReasonAlgorithm,
		"bad-keyconfusion-es256-as-hs256":  authn.ReasonAlgorithm,
		"bad-es256-zero-sig":               authn.ReasonSignature,
		"bad-es256-r-s-equal-n":            authn.ReasonSignature,
		"bad-es256-der-sig":                authn.ReasonSignature,
		"bad-es256-truncated-sig":          authn.ReasonSignature,
		"bad-es384-header-with-p256-key":   authn.ReasonAlgorithm,
		"bad-rs256-truncated-sig":          authn.ReasonSignature,
		"bad-hs256-empty-sig":              authn.ReasonSignature,
		"bad-hs256-padded-b64":             authn.ReasonMalformed,
		"bad-hs256-noncanonical-b64":       authn.ReasonMalformed,
		"bad-two-segments":                 authn.ReasonMalformed,
		"bad-four-segments":                authn.ReasonMalformed,
		"bad-whitespace":                   authn.ReasonMalformed,
		"bad-header-not-object":            authn.ReasonBadHeader,
		"bad-header-alg-number":            authn.ReasonBadHeader,
		"bad-header-alg-uppercase-name":    authn.ReasonBadHeader,
		"bad-header-duplicate-alg":         authn.ReasonBadHeader,
		"bad-crit-unknown":                 authn.ReasonCrit,
		"bad-kid-path-traversal-empty-key": authn.ReasonSignature,
		"bad-embedded-jwk":                 authn.ReasonSignature,
		"bad-jku-header":                   authn.ReasonSignature,
		"jwt-bad-exp-equals-now":           authn.ReasonExpired,
		"jwt-bad-expired":                  authn.ReasonExpired,
		"jwt-bad-missing-exp":              authn.ReasonMissingExp,
		"jwt-bad-exp-string":               authn.ReasonClaims,
		"jwt-bad-nbf-future":               authn.ReasonNotYetValid,
		"jwt-bad-iat-future":               authn.ReasonIssuedInFuture,
		"jwt-bad-aud-mismatch":             authn.ReasonAudience,
		"jwt-bad-aud-empty-array":          authn.ReasonAudience,
		"jwt-bad-missing-aud":              authn.ReasonAudience,
		"jwt-bad-iss-mismatch":             authn.ReasonIssuer,
		"jwt-bad-duplicate-sub":            authn.ReasonClaims,
		"jwt-bad-claims-array":             authn.ReasonClaims,
		"jwt-bad-trailing-garbage":         authn.ReasonClaims,
	}
}

// TestVectors runs every vector of jws-rfc.json with the configuration the
// file assumes (TESTING.md §3): its alg bound to its key, issuer
// amaters-test, audience amaters, zero leeway and, for check=jwt, the clock
// fixed at options.now.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) != 67 {
		t.Fatalf("loaded %d vectors, want 67", len(vs))
	}
	reasons := vectorReasons()
	for _, v := range vs {
		t.Run(v.ID, func(t *testing.T) {
			ver, err := authn.NewJWTVerifier(v.jwtConfig(t))
			if !v.AlgInServerAllowlist {
				if !errors.Is(err, authn.ErrUnsupportedAlgorithm) {
					t.Fatalf("NewJWTVerifier(%s) = %v, want ErrUnsupportedAlgorithm", v.Alg, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if !v.Valid {
				want = reasons[v.ID]
				if want == "" {
					t.Fatalf("no expected reason for invalid vector %s", v.ID)
				}
			}
			switch v.Check {
			case "jws":
				payload, err := ver.VerifyJWS(v.Token)
				wantReason(t, err, want)
				if err == nil && string(payload) != v.Payload {
					t.Errorf("payload %q, want %q", payload, v.Payload)
				}
			case "jwt":
				id, err := ver.Verify(v.Token, time.Unix(v.Options.Now, 0))
				wantReason(t, err, want)
				if err == nil && (id.Subject != "alice" || id.Method != authn.MethodJWT) {
					t.Errorf("identity %+v, want subject alice by jwt", id)
				}
			default:
				t.Fatalf("check %q", v.Check)
			}
		})
	}
}

// TestVectorsPlainPayloadIsNotJWT checks that the valid JWS vectors whose
// payload is plain text fail full JWT validation as "not a claims object".
func TestVectorsPlainPayloadIsNotJWT(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Valid || !v.AlgInServerAllowlist || strings.HasPrefix(v.Payload, "{") {
			continue
		}
		t.Run(v.ID, func(t *testing.T) {
			_, err := newVerifier(t, v.jwtConfig(t)).Verify(v.Token, time.Unix(1300819000, 0))
			wantReason(t, err, authn.ReasonClaims)
		})
	}
}

// TestVectorsResign re-signs the deterministic RFC vectors (HMAC, RSA
// PKCS #1 v1.5, Ed25519) with their signing keys and requires the token
// byte for byte, which proves the vectors and the test key conversion
// agree.
func TestVectorsResign(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Valid || !v.AlgInServerAllowlist || strings.HasPrefix(v.Alg, "ES") {
			continue
		}
		t.Run(v.ID, func(t *testing.T) {
			k := v.Key
			if v.SigningKey != nil {
				k = *v.SigningKey
			}
			i := strings.LastIndexByte(v.Token, '.')
			sig := signature(t, v.Alg, k.privateKey(t), []byte(v.Token[:i]))
			if got := base64.RawURLEncoding.EncodeToString(sig); got != v.Token[i+1:] {
				t.Fatalf("re-signed %s, want %s", got, v.Token[i+1:])
			}
		})
	}
}

// TestVectorsKeyTypes guards the JWK conversion used by the other tests.
func TestVectorsKeyTypes(t *testing.T) {
	for _, k := range testKeys(t) {
		switch p := k.priv.(type) {
		case []byte:
			if !bytes.Equal(p, []byte(k.cfg.Secret)) {
				t.Errorf("%s: secret mismatch", k.alg)
			}
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		default:
			t.Errorf("%s: unexpected key %T", k.alg, p)
		}
	}
}
