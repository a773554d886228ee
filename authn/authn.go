package authn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Method names an authentication method. The values are stable: they are
// used as the method label of the auth metrics and in audit records.
type Method string

// The authentication methods, in the order [Authenticator.Authenticate]
// tries them.
const (
	MethodMTLS   Method = "mtls"
	MethodJWT    Method = "jwt"
	MethodAPIKey Method = "api_key"
)

// DefaultAPIKeyHeader is the header carrying API keys when
// [Config.APIKeyHeader] is empty.
const DefaultAPIKeyHeader = "X-API-Key"

// Identity is an authenticated caller. Subject is the JWT "sub", the API
// key's user_id or the client certificate's subject CN. Roles and
// Collections are what the credential itself grants (the JWT "roles" and
// "role" claims and "collections"; the key entry's lists; nothing for mTLS):
// authorization adds bindings and the default role on top. The slices may
// be shared with the key set and must not be modified. ExpiresAt is when
// the credential stops being valid, or zero if it never does.
type Identity struct {
	Subject     string
	Method      Method
	Roles       []string
	Collections []string
	KeyID       string // the API key entry's id; empty for other methods
	ExpiresAt   time.Time
}

// LogValue groups the identity for log/slog and audit records. It holds no
// secret, but logs only what identifies the caller.
func (id Identity) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("subject", id.Subject), slog.String("method", string(id.Method))}
	if id.KeyID != "" {
		attrs = append(attrs, slog.String("key_id", id.KeyID))
	}
	return slog.GroupValue(attrs...)
}

// Config configures an [Authenticator]. Each method is on when its field is
// set; a zero Config authenticates nobody (every request gets
// [ErrNoCredentials] or, if it presents a credential, an [*Error] with
// reason not_configured).
type Config struct {
	// JWT verifies "Authorization: Bearer" tokens; nil disables JWT.
	JWT *JWTVerifier
	// APIKeys holds the API keys; nil disables API keys.
	APIKeys *KeySet
	// APIKeyHeader is the request header carrying an API key; empty means
	// [DefaultAPIKeyHeader].
	APIKeyHeader string
	// MTLS identifies requests by their verified client certificate. The
	// TLS listener must verify the certificates itself (see [MTLSConfig]);
	// the authenticator only reads the verified chain.
	MTLS bool
	// ClientCAs, when MTLS is on and it is not empty, are the CAs trusted
	// now (see [ClientCAs]): a connection whose verified chain ends at
	// none of them is refused. A connection outlives a reload that drops
	// its CA; this is what ends its access at the next request.
	ClientCAs []*x509.Certificate
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// An Authenticator identifies the caller of an HTTP request. It is
// immutable and safe for concurrent use; to reload keys, build a new one and
// swap it (for example through an atomic.Pointer).
type Authenticator struct {
	jwt    *JWTVerifier
	keys   *KeySet
	header string // canonical form of the API key header
	mtls   bool
	roots  map[string]bool // DER of cfg.ClientCAs; nil: any verified chain
	clock  func() time.Time
}

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	header := cfg.APIKeyHeader
	if header == "" {
		header = DefaultAPIKeyHeader
	}
	if !validHeaderName(header) {
		return nil, fmt.Errorf("authn: API key header %q is not a valid header name", header)
	}
	header = http.CanonicalHeaderKey(header)
	if header == "Authorization" || header == "Cookie" {
		return nil, fmt.Errorf("authn: API key header cannot be %s", header)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	a := &Authenticator{jwt: cfg.JWT, keys: cfg.APIKeys, header: header, mtls: cfg.MTLS, clock: clock}
	if len(cfg.ClientCAs) > 0 {
		a.roots = make(map[string]bool, len(cfg.ClientCAs))
		for _, c := range cfg.ClientCAs {
			a.roots[string(c.Raw)] = true
		}
	}
	return a, nil
}

// Methods returns the enabled methods, in the order they are tried.
func (a *Authenticator) Methods() []Method {
	var ms []Method
	if a.mtls {
		ms = append(ms, MethodMTLS)
	}
	if a.jwt != nil {
		ms = append(ms, MethodJWT)
	}
	if a.keys != nil {
		ms = append(ms, MethodAPIKey)
	}
	return ms
}

// Authenticate identifies the caller of r. It looks for credentials in this
// order and uses the first one found:
//
//  1. a verified client certificate (when MTLS is on);
//  2. an "Authorization" header, which must be "Bearer <JWT>";
//  3. the API key header.
//
// A credential that is present but invalid ends the search with an [*Error]:
// the request never falls through to a later method or to anonymous access.
// So does a credential in the URL query (access_token, api_key), which would
// end up in proxy logs, and a credential header sent twice. With no
// credential at all the error is [ErrNoCredentials].
func (a *Authenticator) Authenticate(r *http.Request) (Identity, error) {
	now := a.clock()
	if r.URL != nil && r.URL.RawQuery != "" && queryHasCredential(r.URL.RawQuery) {
		return Identity{}, fail(MethodJWT, ReasonTokenInQuery)
	}
	if a.mtls && r.TLS != nil {
		if len(r.TLS.VerifiedChains) > 0 {
			if a.roots != nil && !endsInRoot(r.TLS.VerifiedChains, a.roots) {
				return Identity{}, fail(MethodMTLS, ReasonUnverifiedCert)
			}
			return fromCertificate(r.TLS, now)
		}
		if len(r.TLS.PeerCertificates) > 0 {
			return Identity{}, fail(MethodMTLS, ReasonUnverifiedCert)
		}
	}
	if vs := r.Header["Authorization"]; len(vs) > 0 {
		if len(vs) > 1 {
			return Identity{}, fail(MethodJWT, ReasonAmbiguous)
		}
		token, ok := bearerToken(vs[0])
		switch {
		case !ok:
			return Identity{}, fail(MethodJWT, ReasonScheme)
		case a.jwt == nil:
			return Identity{}, fail(MethodJWT, ReasonNotConfigured)
		}
		return a.jwt.Verify(token, now)
	}
	if vs := r.Header[a.header]; len(vs) > 0 {
		switch {
		case len(vs) > 1:
			return Identity{}, fail(MethodAPIKey, ReasonAmbiguous)
		case a.keys == nil:
			return Identity{}, fail(MethodAPIKey, ReasonNotConfigured)
		case len(vs[0]) > MaxAPIKeyBytes:
			return Identity{}, fail(MethodAPIKey, ReasonTooLarge)
		case vs[0] == "":
			return Identity{}, fail(MethodAPIKey, ReasonBadCredentialForm)
		}
		return a.keys.lookup(vs[0], now)
	}
	return Identity{}, ErrNoCredentials
}

// endsInRoot reports whether one of chains ends at a certificate of roots.
func endsInRoot(chains [][]*x509.Certificate, roots map[string]bool) bool {
	for _, c := range chains {
		if len(c) > 0 && roots[string(c[len(c)-1].Raw)] {
			return true
		}
	}
	return false
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// value. The scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(v string) (string, bool) {
	const scheme = "Bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	// The token itself is validated by the verifier, which refuses any
	// space or other byte outside base64url and '.'.
	return strings.TrimLeft(v[len(scheme):], " "), true
}

// queryHasCredential reports whether a URL query carries access_token
// (RFC 6750 §2.3) or api_key. It parses only when the names appear at all.
func queryHasCredential(raw string) bool {
	// Parse only when a name may be there, spelt out or percent-encoded
	// (acc%65ss_token, api%5Fkey).
	if !strings.Contains(raw, "access_token") && !strings.Contains(raw, "api_key") && !strings.Contains(raw, "%") {
		return false
	}
	// ParseQuery skips pairs it cannot decode and keeps the rest; a
	// credential among the rest is still refused.
	q, _ := url.ParseQuery(raw)
	return q.Has("access_token") || q.Has("api_key")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Challenge returns the WWW-Authenticate value for a 401 caused by err: a
// bare "Bearer" when no credential was presented, and
// `Bearer error="invalid_token"` (RFC 6750 §3.1) when one was refused. It
// never describes why, so a response cannot leak what was expected.
func Challenge(err error) string {
	if errors.Is(err, ErrInvalidCredentials) {
		return `Bearer error="invalid_token"`
	}
	return "Bearer"
}
