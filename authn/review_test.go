package authn

// Regression tests from a security review: each failed before its fix.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

var reviewSecret = Secret("0123456789abcdef0123456789abcdef-review")

// reviewHS256 signs header.payload (JSON text, used verbatim) with reviewSecret.
func reviewHS256(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	m := hmac.New(sha256.New, []byte(reviewSecret))
	m.Write([]byte(input))
	return input + "." + enc(m.Sum(nil))
}

// API.md §4 gives roles through the "roles" claim only. A singular "role"
// claim once added a role; many issuers use "role" with their own meaning
// (Supabase "role":"service_role", "role":"admin" for another application),
// so a token minted for something else could gain a server role.
func TestSingularRoleClaimGivesNoRole(t *testing.T) {
	v, err := NewJWTVerifier(JWTConfig{Algorithm: "HS256", Secret: reviewSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok := reviewHS256(`{"alg":"HS256"}`, `{"sub":"bob","exp":4102444800,"roles":["reader"],"role":"admin"}`)
	id, err := v.Verify(tok, time.Unix(1750000000, 0))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if slices.Contains(id.Roles, "admin") {
		t.Errorf("roles = %q: the non-contract \"role\" claim granted admin; API.md §4 defines only \"roles\"", id.Roles)
	}
}

// Authenticate refuses credentials in the query (access_token, api_key),
// percent-encoded names too (the pre-check once missed ?acc%65ss_token=).
func TestQueryCredentialPercentEncodedName(t *testing.T) {
	a, err := New(Config{APIKeys: &KeySet{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"acc%65ss_token=eyJ.x.y", "api%5Fkey=secret"} {
		r := httptest.NewRequest("GET", "/v1/status?"+q, nil)
		_, err := a.Authenticate(r)
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonTokenInQuery {
			t.Errorf("query %q: err = %v, want reason %s", q, err, ReasonTokenInQuery)
		}
	}
}

// crypto/x509 fills Subject.CommonName with the LAST CN attribute, so a
// verified certificate with subject CN=alice, CN=admin once authenticated
// as "admin", though a CA checking the first CN issued it to alice. Several
// CNs are ambiguous: refused.
func TestMTLSMultipleCommonNames(t *testing.T) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "review CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: cn, Value: "alice"}, {Type: cn, Value: "admin"}}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("the CA-signed leaf does not verify: %v", err)
	}
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: chains}
	id, err := fromCertificate(cs, now)
	if err == nil {
		t.Errorf("subject attributes %v (two CNs) accepted as identity %q; want it refused as ambiguous", leaf.Subject.Names, id.Subject)
	}
}

// A misspelt expires_at (expiresAt, expiry, ...) would leave a key that
// never expires: refused at load. Other attributes are the operator's.
func TestAPIKeyExpiryTypoRefused(t *testing.T) {
	hash := HashAPIKey("k")
	for _, name := range []string{"expiresAt", "Expires-At", "expiry", "expiration", "exp", "valid_until"} {
		_, err := ParseAPIKeys([]byte(`[{"id":"a","key_hash":"` + hash + `","user_id":"u","attributes":{"` + name + `":"2027-01-01T00:00:00Z"}}]`))
		if err == nil || !strings.Contains(err.Error(), "did you mean attributes.expires_at") {
			t.Errorf("attribute %q: %v", name, err)
		}
	}
	if _, err := ParseAPIKeys([]byte(`[{"id":"a","key_hash":"` + hash + `","user_id":"u","attributes":{"team":"ops","expires_at":"2027-01-01T00:00:00Z"}}]`)); err != nil {
		t.Errorf("an attribute of the operator's own: %v", err)
	}
}
