package authn

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// VerifyJWS exposes the JWS-level check (format, header and signature, no
// claims) for the RFC vectors whose payloads are plain text.
func (v *JWTVerifier) VerifyJWS(token string) ([]byte, error) { return v.verifyJWS(token) }

// VerifyClientChain exposes the VerifyConnection check of MTLSConfig.
func VerifyClientChain(cs tls.ConnectionState, pool *x509.CertPool, now time.Time) error {
	return verifyClientChain(cs, pool, now)
}

// FromCertificate exposes the identity of a verified client certificate.
func FromCertificate(cs *tls.ConnectionState, now time.Time) (Identity, error) {
	return fromCertificate(cs, now)
}
