package authn

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"math"
	"strings"
	"sync"
	"time"
)

// MaxTokenBytes caps the length of a compact JWS. Longer bearer tokens are
// refused before any parsing, so a header of a million dots costs one length
// check (cf. CVE-2025-22868, CVE-2025-30204).
const MaxTokenBytes = 8 << 10

// JWTConfig configures a [JWTVerifier]. The zero value is not usable: set
// Algorithm and either Secret (HS*) or PublicKeyPEM (RS*, ES*, EdDSA).
type JWTConfig struct {
	// Algorithm is the one JWS algorithm accepted: HS256, HS384, HS512,
	// RS256, RS384, RS512, ES256, ES384 or EdDSA (case-sensitive, see
	// [Algorithms]). Every token must carry exactly this "alg"; the header
	// never chooses the algorithm or the key.
	Algorithm string
	// Secret is the HMAC key for HS*: at least 32 bytes and at least the
	// hash size (48 for HS384, 64 for HS512).
	Secret Secret
	// PublicKeyPEM is the verification key for RS*, ES* and EdDSA, in any
	// form [ParsePublicKey] reads. RSA keys need at least 2048 bits; ES256
	// needs P-256 and ES384 P-384.
	PublicKeyPEM []byte
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must equal the token's "aud" or one element of it.
	// When unset, "aud" is type-checked but not compared.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat. It is used as
	// given: zero means no skew (the server's default of 30 s comes from its
	// configuration).
	Leeway time.Duration
}

// JWTVerifier verifies JWT bearer tokens (compact JWS, RFC 7515 and 7519)
// against one configured algorithm and key. A JWTVerifier is immutable and
// safe for concurrent use; build a new one to change keys.
//
// A token is accepted only if all of the following hold, checked in this
// order, each failure being an [*Error] with the reason in brackets:
//   - at most [MaxTokenBytes] long [too_large]; exactly two '.', and only
//     base64url characters otherwise; each segment canonical unpadded
//     base64url [malformed];
//   - the header is a strict JSON object (no duplicate or case-variant
//     member names) whose "alg" is a string [bad_header] equal to the
//     configured algorithm [alg_not_allowed]; no "crit" [unsupported_crit];
//     "typ", if any, is JWT or at+jwt, and "cty" is not JWT [bad_type];
//     "kid", "jwk", "jku", "x5u" and "x5c" are ignored: no key is ever
//     taken or fetched from a token;
//   - the signature verifies [bad_signature]: HMAC compared in constant
//     time; RSA PKCS #1 v1.5; ECDSA as the raw r||s of exactly twice the
//     curve size with r and s in [1, n-1]; Ed25519;
//   - the payload is a strict JSON object whose registered claims have the
//     right JSON types [bad_claims]; exp [missing_exp] and a non-empty sub
//     [missing_sub] are present; now < exp + leeway [expired];
//     nbf <= now + leeway [not_yet_valid]; iat <= now + leeway
//     [issued_in_future]; iss [bad_issuer] and aud [bad_audience] match
//     when configured.
type JWTVerifier struct {
	alg      algorithm
	b64      *base64.Encoding // strict, unpadded base64url
	macs     sync.Pool        // of *macState keyed with the secret
	rsaKey   *rsa.PublicKey
	ecKey    *ecdsa.PublicKey
	ecOrder  []byte // the curve order n, big-endian, alg.size bytes
	edKey    ed25519.PublicKey
	issuer   string
	audience string
	leeway   float64 // seconds
}

// macState is a reusable HMAC, keyed once, with room for its output.
type macState struct {
	mac hash.Hash
	sum [sha512.Size]byte
}

// NewJWTVerifier checks cfg and returns a verifier. Errors wrap
// [ErrUnsupportedAlgorithm], [ErrWeakKey] or [ErrKeyMismatch], or describe a
// PEM problem; they never contain the secret.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	alg, ok := lookupAlgorithm(cfg.Algorithm)
	if !ok {
		return nil, fmt.Errorf("%w: %q (supported: %s)", ErrUnsupportedAlgorithm, cfg.Algorithm, strings.Join(Algorithms(), ", "))
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("authn: negative JWT leeway %v", cfg.Leeway)
	}
	v := &JWTVerifier{
		alg:      alg,
		b64:      base64.RawURLEncoding.Strict(),
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		leeway:   cfg.Leeway.Seconds(),
	}
	if alg.family == familyHMAC {
		if cfg.PublicKeyPEM != nil {
			return nil, fmt.Errorf("%w: %s takes a secret, not a public key", ErrKeyMismatch, alg.name)
		}
		if err := checkSecret(alg, cfg.Secret); err != nil {
			return nil, err
		}
		secret := []byte(cfg.Secret)
		v.macs.New = func() any { return &macState{mac: hmac.New(alg.newHash, secret)} }
		return v, nil
	}
	if cfg.Secret != "" {
		return nil, fmt.Errorf("%w: %s takes a public key, not a secret", ErrKeyMismatch, alg.name)
	}
	if len(cfg.PublicKeyPEM) == 0 {
		return nil, fmt.Errorf("authn: %s needs a public key", alg.name)
	}
	key, err := ParsePublicKey(cfg.PublicKeyPEM)
	if err != nil {
		return nil, err
	}
	if err := checkPublicKey(alg, key); err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		v.rsaKey = k
	case *ecdsa.PublicKey:
		v.ecKey = k
		v.ecOrder = k.Curve.Params().N.FillBytes(make([]byte, alg.size))
	case ed25519.PublicKey:
		v.edKey = k
	}
	return v, nil
}

// Algorithm returns the configured algorithm.
func (v *JWTVerifier) Algorithm() string { return v.alg.name }

// Verify checks token at time now and returns the identity it carries, with
// Method [MethodJWT]. Errors are always an [*Error].
func (v *JWTVerifier) Verify(token string, now time.Time) (Identity, error) {
	payload, err := v.verifyJWS(token)
	if err != nil {
		return Identity{}, err
	}
	return v.claims(payload, now)
}

// verifyJWS checks the format, the header and the signature of token and
// returns the decoded payload, which may be any bytes.
func (v *JWTVerifier) verifyJWS(token string) ([]byte, error) {
	if len(token) > MaxTokenBytes {
		return nil, fail(MethodJWT, ReasonTooLarge)
	}
	// One pass finds the two dots and refuses any third dot or any byte
	// outside the base64url alphabet (whitespace, '=', '+', '/'): the
	// segment count is known before anything is split or decoded.
	d1, d2 := -1, -1
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c == '.' {
			switch {
			case d1 < 0:
				d1 = i
			case d2 < 0:
				d2 = i
			default:
				return nil, fail(MethodJWT, ReasonMalformed)
			}
			continue
		}
		if !isBase64URL(c) {
			return nil, fail(MethodJWT, ReasonMalformed)
		}
	}
	if d2 < 0 || d1 == 0 {
		return nil, fail(MethodJWT, ReasonMalformed)
	}
	// One allocation holds a copy of the token (its first d2 bytes are the
	// signing input, hashed as bytes) followed by the decoded header,
	// payload and signature.
	hl := v.b64.DecodedLen(d1)
	pl := v.b64.DecodedLen(d2 - d1 - 1)
	sl := v.b64.DecodedLen(len(token) - d2 - 1)
	buf := make([]byte, len(token)+hl+pl+sl)
	copy(buf, token)
	input := buf[:d2]
	h64, p64, s64 := buf[:d1], buf[d1+1:d2], buf[d2+1:len(token)]
	rest := buf[len(token):]

	hdr, err := v.decode(rest[:hl], h64)
	if err != nil {
		return nil, err
	}
	if err := v.checkHeader(hdr); err != nil {
		return nil, err
	}
	if len(s64) == 0 {
		return nil, fail(MethodJWT, ReasonSignature)
	}
	sig, err := v.decode(rest[hl+pl:], s64)
	if err != nil {
		return nil, err
	}
	if !v.verifySignature(input, sig) {
		return nil, fail(MethodJWT, ReasonSignature)
	}
	payload, err := v.decode(rest[hl:hl+pl], p64)
	if err != nil {
		return nil, err
	}
	return payload, nil
}

func (v *JWTVerifier) decode(dst, src []byte) ([]byte, error) {
	n, err := v.b64.Decode(dst, src)
	if err != nil {
		return nil, fail(MethodJWT, ReasonMalformed)
	}
	return dst[:n], nil
}

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// checkHeader applies the JOSE header rules of [JWTVerifier].
func (v *JWTVerifier) checkHeader(hdr []byte) error {
	var arr [8]member
	ms, err := parseObject(hdr, arr[:0])
	if err != nil {
		return fail(MethodJWT, ReasonBadHeader)
	}
	algSeen := false
	for i := range ms {
		m := &ms[i]
		switch {
		case m.nameIs("alg"):
			eq, ok := jsonStringIs(m.value, v.alg.name)
			if !ok {
				return fail(MethodJWT, ReasonBadHeader)
			}
			if !eq {
				return fail(MethodJWT, ReasonAlgorithm)
			}
			algSeen = true
		case m.nameIs("crit"):
			// No extension is understood, so any crit (RFC 7515 §4.1.11),
			// including b64=false (RFC 7797), is refused.
			return fail(MethodJWT, ReasonCrit)
		case m.nameIs("typ"):
			typ, ok := jsonString(m.value)
			if !ok || !jwtType(typ) {
				return fail(MethodJWT, ReasonType)
			}
		case m.nameIs("cty"):
			cty, ok := jsonString(m.value)
			if !ok || jwtType(cty) {
				// A nested JWT would need a second verification with
				// its own rules; none is done, so refuse it.
				return fail(MethodJWT, ReasonType)
			}
		}
	}
	if !algSeen {
		return fail(MethodJWT, ReasonBadHeader)
	}
	return nil
}

// jwtType reports whether a typ value names a JWT (RFC 7519 §5.1) or a JWT
// access token (RFC 9068), with or without the "application/" prefix.
func jwtType(t string) bool {
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		t = t[len("application/"):]
	}
	return strings.EqualFold(t, "JWT") || strings.EqualFold(t, "at+jwt")
}

// verifySignature checks sig over input with the configured key.
func (v *JWTVerifier) verifySignature(input, sig []byte) bool {
	switch v.alg.family {
	case familyHMAC:
		if len(sig) != v.alg.size {
			return false
		}
		m := v.macs.Get().(*macState)
		m.mac.Reset()
		m.mac.Write(input)
		ok := hmac.Equal(m.mac.Sum(m.sum[:0]), sig)
		v.macs.Put(m)
		return ok
	case familyRSA:
		if len(sig) != v.rsaKey.Size() {
			return false
		}
		var d [sha512.Size]byte
		digest := sum(v.alg.hash, input, &d)
		return rsa.VerifyPKCS1v15(v.rsaKey, v.alg.hash, digest, sig) == nil
	case familyECDSA:
		n := v.alg.size
		if len(sig) != 2*n {
			return false
		}
		r, s := sig[:n], sig[n:]
		if !inRange(r, v.ecOrder) || !inRange(s, v.ecOrder) {
			return false
		}
		var d [sha512.Size]byte
		digest := sum(v.alg.hash, input, &d)
		var der [2 + 2*(2+1+48)]byte
		return ecdsa.VerifyASN1(v.ecKey, digest, asn1Signature(der[:0], r, s))
	case familyEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.edKey, input, sig)
	}
	return false
}

func sum(h crypto.Hash, data []byte, d *[sha512.Size]byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(data)
		return d[:copy(d[:], s[:])]
	case crypto.SHA384:
		s := sha512.Sum384(data)
		return d[:copy(d[:], s[:])]
	case crypto.SHA512:
		s := sha512.Sum512(data)
		return d[:copy(d[:], s[:])]
	}
	panic("authn: unexpected hash") // lookupAlgorithm lists only these three
}

// inRange reports whether the big-endian integer x is in [1, n-1]; x and n
// have the same length. CVE-2022-21449 accepted r = s = 0.
func inRange(x, n []byte) bool {
	zero := true
	for _, c := range x {
		if c != 0 {
			zero = false
			break
		}
	}
	return !zero && bytes.Compare(x, n) < 0
}

// asn1Signature appends the DER encoding of SEQUENCE { INTEGER r, INTEGER s }
// for the unsigned big-endian r and s (each under 128 bytes), the form
// crypto/ecdsa verifies without big.Int allocations.
func asn1Signature(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	rl, sl := len(r), len(s)
	if r[0]&0x80 != 0 {
		rl++
	}
	if s[0]&0x80 != 0 {
		sl++
	}
	dst = append(dst, 0x30, byte(2+rl+2+sl))
	dst = appendInt(dst, r, rl)
	return appendInt(dst, s, sl)
}

func appendInt(dst, x []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(x) {
		dst = append(dst, 0)
	}
	return append(dst, x...)
}

func trimZeros(x []byte) []byte {
	for len(x) > 1 && x[0] == 0 {
		x = x[1:]
	}
	return x
}

// registered claims read from a payload.
type claimSet struct {
	sub            string
	hasSub         bool
	hasIss, issOK  bool // issOK: iss equals the configured issuer
	hasAud, audOK  bool // audOK: aud is or holds the configured audience
	exp, nbf, iat  float64
	hasExp         bool
	hasNbf, hasIat bool
	roles          []string
	collections    []string
}

// claims validates the payload as a JWT claim set at time now.
func (v *JWTVerifier) claims(payload []byte, now time.Time) (Identity, error) {
	var arr [16]member
	ms, err := parseObject(payload, arr[:0])
	if err != nil {
		return Identity{}, fail(MethodJWT, ReasonClaims)
	}
	var c claimSet
	for i := range ms {
		m := &ms[i]
		ok := true
		switch {
		case m.nameIs("exp"):
			c.exp, ok = jsonNumber(m.value)
			c.hasExp = true
		case m.nameIs("nbf"):
			c.nbf, ok = jsonNumber(m.value)
			c.hasNbf = true
		case m.nameIs("iat"):
			c.iat, ok = jsonNumber(m.value)
			c.hasIat = true
		case m.nameIs("sub"):
			c.sub, ok = jsonString(m.value)
			c.hasSub = true
		case m.nameIs("iss"):
			c.issOK, ok = jsonStringIs(m.value, v.issuer)
			c.hasIss = true
		case m.nameIs("aud"):
			c.hasAud = true
			c.audOK, ok = audienceHas(m.value, v.audience)
		case m.nameIs("roles"):
			c.roles, ok = jsonStrings(m.value)
		case m.nameIs("collections"):
			c.collections, ok = jsonStrings(m.value)
		}
		if !ok {
			return Identity{}, fail(MethodJWT, ReasonClaims)
		}
	}
	if !c.hasExp {
		return Identity{}, fail(MethodJWT, ReasonMissingExp)
	}
	if !c.hasSub || c.sub == "" {
		return Identity{}, fail(MethodJWT, ReasonMissingSub)
	}
	t := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	if !(t < c.exp+v.leeway) {
		return Identity{}, fail(MethodJWT, ReasonExpired)
	}
	if c.hasNbf && !(c.nbf <= t+v.leeway) {
		return Identity{}, fail(MethodJWT, ReasonNotYetValid)
	}
	if c.hasIat && !(c.iat <= t+v.leeway) {
		return Identity{}, fail(MethodJWT, ReasonIssuedInFuture)
	}
	if v.issuer != "" && (!c.hasIss || !c.issOK) {
		return Identity{}, fail(MethodJWT, ReasonIssuer)
	}
	if v.audience != "" && (!c.hasAud || !c.audOK) {
		return Identity{}, fail(MethodJWT, ReasonAudience)
	}
	return Identity{
		Subject:     c.sub,
		Method:      MethodJWT,
		Roles:       c.roles,
		Collections: c.collections,
		ExpiresAt:   unixTime(c.exp),
	}, nil
}

// audienceHas checks an "aud" value, a string or an array of strings
// (RFC 7519 §4.1.3), for want without allocating. ok is false when the value
// has another type.
func audienceHas(v []byte, want string) (has, ok bool) {
	if len(v) == 0 || v[0] != '[' {
		return jsonStringIs(v, want)
	}
	s := jsonScanner{data: v, pos: 1}
	s.skipSpace()
	if s.consume(']') {
		return false, true
	}
	for {
		s.skipSpace()
		start := s.pos
		if s.peek() != '"' {
			return false, false
		}
		if _, err := s.str(); err != nil {
			return false, false
		}
		eq, ok := jsonStringIs(s.data[start:s.pos], want)
		if !ok {
			return false, false
		}
		has = has || eq
		s.skipSpace()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return has, true
		}
		return false, false
	}
}

// maxUnix is 9999-12-31T23:59:59Z; later NumericDates are clamped to it.
const maxUnix = 253402300799

func unixTime(f float64) time.Time {
	switch {
	case f >= maxUnix:
		return time.Unix(maxUnix, 0).UTC()
	case f <= -maxUnix:
		return time.Unix(-maxUnix, 0).UTC()
	}
	s := math.Floor(f)
	return time.Unix(int64(s), int64((f-s)*1e9)).UTC()
}
