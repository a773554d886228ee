package authn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ParseClientCAs parses a PEM bundle of CA certificates (the mtls_ca_cert
// file) into a pool for verifying client certificates. Every block must be a
// CERTIFICATE, and there must be at least one.
func ParseClientCAs(pemData []byte) (*x509.CertPool, error) {
	cas, err := ClientCAs(pemData)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool, nil
}

// ClientCAs parses a PEM bundle of CA certificates as [ParseClientCAs]
// does, and returns them (for [Config.ClientCAs]).
func ClientCAs(pemData []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	n := 0
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("authn: client CA bundle: PEM block #%d is %q, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("authn: client CA bundle: certificate #%d: %w", n, err)
		}
		cas = append(cas, c)
	}
	if n == 0 {
		return nil, errors.New("authn: client CA bundle: no PEM certificate found")
	}
	return cas, nil
}

// MTLSConfig returns a copy of base (which may be nil) that requires every
// client to present a certificate chaining to one of the CAs in caPEM, valid
// for client authentication at the handshake time (base.Time, or the system
// clock). The server's own certificate, ALPN and the rest of base are kept;
// MinVersion is raised to TLS 1.2 if lower.
//
// Older crypto/tls releases verified the chain on full handshakes only: a
// resumed session was trusted on the strength of the verification done when
// its ticket was issued, even if the CA bundle had been replaced since.
// Current releases re-check the stored chains; so that this holds whatever
// toolchain builds the server, the returned config also sets
// VerifyConnection (which runs on every handshake, resumed or not) to verify
// the leaf again against this config's pool whenever the session was
// resumed. An expired certificate, or one from a CA no longer trusted, is
// refused either way.
//
// To reload the CA bundle, build a new config with MTLSConfig and hand it
// out from the listener's GetConfigForClient.
func MTLSConfig(base *tls.Config, caPEM []byte) (*tls.Config, error) {
	pool, err := ParseClientCAs(caPEM)
	if err != nil {
		return nil, err
	}
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{}
	} else {
		cfg = base.Clone()
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	clock := cfg.Time
	if clock == nil {
		clock = time.Now
	}
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verifyClientChain(cs, pool, clock()); err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg, nil
}

// verifyClientChain is the VerifyConnection check of [MTLSConfig].
func verifyClientChain(cs tls.ConnectionState, pool *x509.CertPool, now time.Time) error {
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		return errors.New("authn: mtls: no verified client certificate")
	}
	if !cs.DidResume {
		return nil // crypto/tls has just verified the chain against pool
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("authn: mtls: resumed session: %w", err)
	}
	return nil
}

// oidCommonName is the X.500 attribute type of a common name (2.5.4.3).
var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// fromCertificate returns the identity of a TLS client: the subject common
// name of the verified leaf certificate, which must have exactly one.
func fromCertificate(cs *tls.ConnectionState, now time.Time) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fail(MethodMTLS, ReasonUnverifiedCert)
	}
	leaf := cs.VerifiedChains[0][0]
	// The handshake checked validity already; checking again with the
	// authenticator's clock costs nothing and covers long-lived
	// connections that outlive their certificate.
	if now.After(leaf.NotAfter) {
		return Identity{}, fail(MethodMTLS, ReasonExpired)
	}
	if now.Before(leaf.NotBefore) {
		return Identity{}, fail(MethodMTLS, ReasonNotYetValid)
	}
	cn := leaf.Subject.CommonName
	if cn == "" {
		return Identity{}, fail(MethodMTLS, ReasonNoCommonName)
	}
	// x509 keeps the last of several CNs; a CA that checked another one
	// (CN=alice, CN=admin) must not make its holder "admin". One CN only.
	cns := 0
	for _, n := range leaf.Subject.Names {
		if n.Type.Equal(oidCommonName) {
			cns++
		}
	}
	if cns > 1 {
		return Identity{}, fail(MethodMTLS, ReasonAmbiguous)
	}
	return Identity{Subject: cn, Method: MethodMTLS, ExpiresAt: leaf.NotAfter}, nil
}
