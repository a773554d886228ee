package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Key families of the supported algorithms.
const (
	familyHMAC = iota + 1
	familyRSA
	familyECDSA
	familyEdDSA
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3, RFC 8725).
const minRSABits = 2048

// minHMACBytes is the smallest HMAC secret accepted, whatever the hash.
const minHMACBytes = 32

// placeholderSecret is the value of jwt_secret in the documented example
// configuration; a server started with it would accept tokens anyone can mint.
const placeholderSecret = "change-me"

// algorithm describes one JWS "alg" value this package verifies.
type algorithm struct {
	name    string
	family  int
	hash    crypto.Hash
	newHash func() hash.Hash
	curve   elliptic.Curve // familyECDSA only
	size    int            // ECDSA: bytes of r and of s; HMAC: MAC length
}

// lookupAlgorithm returns the algorithm named exactly (case-sensitively) name.
// The list is closed: RFC 8725 §3.1 wants an allow-list, and "none" is not on
// it whatever its spelling.
func lookupAlgorithm(name string) (algorithm, bool) {
	switch name {
	case "HS256":
		return algorithm{name, familyHMAC, crypto.SHA256, sha256.New, nil, sha256.Size}, true
	case "HS384":
		return algorithm{name, familyHMAC, crypto.SHA384, sha512.New384, nil, sha512.Size384}, true
	case "HS512":
		return algorithm{name, familyHMAC, crypto.SHA512, sha512.New, nil, sha512.Size}, true
	case "RS256":
		return algorithm{name, familyRSA, crypto.SHA256, sha256.New, nil, 0}, true
	case "RS384":
		return algorithm{name, familyRSA, crypto.SHA384, sha512.New384, nil, 0}, true
	case "RS512":
		return algorithm{name, familyRSA, crypto.SHA512, sha512.New, nil, 0}, true
	case "ES256":
		return algorithm{name, familyECDSA, crypto.SHA256, sha256.New, elliptic.P256(), 32}, true
	case "ES384":
		return algorithm{name, familyECDSA, crypto.SHA384, sha512.New384, elliptic.P384(), 48}, true
	case "EdDSA":
		return algorithm{name, familyEdDSA, 0, nil, nil, ed25519.SignatureSize}, true
	}
	return algorithm{}, false
}

// Algorithms lists the accepted values of [JWTConfig.Algorithm].
func Algorithms() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"}
}

// ParsePublicKey reads the first public key from PEM data: a "PUBLIC KEY"
// block (PKIX SubjectPublicKeyInfo, any of RSA, ECDSA, Ed25519), an
// "RSA PUBLIC KEY" block (PKCS #1), or a "CERTIFICATE" whose public key is
// taken (the certificate itself is not verified: the operator vouches for the
// file). "EC PARAMETERS" blocks, as written by openssl ecparam, are skipped.
// A private key is refused with an error saying so, because configuring one
// where a public key belongs usually means the private key is being copied
// to places it should not be.
//
// The result is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey. Curve
// points are checked to be on their curve by crypto/x509.
func ParsePublicKey(pemData []byte) (crypto.PublicKey, error) {
	rest := pemData
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("authn: parse public key: no PEM block found (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)")
		}
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("authn: parse public key: PUBLIC KEY block: %w", err)
			}
			return k, nil
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("authn: parse public key: RSA PUBLIC KEY block: %w", err)
			}
			return k, nil
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("authn: parse public key: CERTIFICATE block: %w", err)
			}
			return c.PublicKey, nil
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("authn: parse public key: PEM block %q holds a private key; configure the public key instead", block.Type)
			}
			return nil, fmt.Errorf("authn: parse public key: unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
		}
	}
}

// checkPublicKey verifies that key suits alg and is strong enough.
func checkPublicKey(alg algorithm, key crypto.PublicKey) error {
	switch alg.family {
	case familyRSA:
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an RSA public key, got %s", ErrKeyMismatch, alg.name, keyKind(key))
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("%w: RSA key has %d bits, at least %d are required", ErrWeakKey, bits, minRSABits)
		}
	case familyECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an ECDSA public key, got %s", ErrKeyMismatch, alg.name, keyKind(key))
		}
		if k.Curve != alg.curve {
			return fmt.Errorf("%w: %s needs a %s key, got %s", ErrKeyMismatch, alg.name, alg.curve.Params().Name, k.Curve.Params().Name)
		}
	case familyEdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%w: EdDSA needs an Ed25519 public key, got %s", ErrKeyMismatch, keyKind(key))
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key has %d bytes, want %d", ErrKeyMismatch, len(k), ed25519.PublicKeySize)
		}
	default:
		return fmt.Errorf("%w: %s takes a secret, not a public key", ErrKeyMismatch, alg.name)
	}
	return nil
}

// checkSecret verifies an HMAC secret for alg.
func checkSecret(alg algorithm, secret Secret) error {
	if string(secret) == placeholderSecret {
		return fmt.Errorf("%w: the HMAC secret is the placeholder %q; generate one, e.g. openssl rand -base64 48", ErrWeakKey, placeholderSecret)
	}
	need := max(minHMACBytes, alg.size)
	if len(secret) < need {
		return fmt.Errorf("%w: %s secret has %d bytes, at least %d are required (RFC 7518 §3.2)", ErrWeakKey, alg.name, len(secret), need)
	}
	// A public key used as an HMAC secret is the classic key confusion
	// attack (CVE-2015-9235): anyone holding the public key could mint
	// tokens. Refuse the configuration outright.
	if strings.Contains(string(secret), "-----BEGIN") {
		return fmt.Errorf("%w: the HMAC secret looks like a PEM key; %s needs a random secret", ErrKeyMismatch, alg.name)
	}
	return nil
}

func keyKind(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a %T", key)
}
