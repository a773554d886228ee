package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"amaters-server/authn"
	"amaters-server/rbac"
	"amaters-server/server/config"
)

// live is the state SIGHUP can reload at once: who a request is
// (authenticator), what it may do (policy), the API listener's TLS
// configuration (certificate and client CAs), CORS origins and rate limits,
// with the configuration they came from. It is immutable; a reload builds a
// new one and swaps Server.live, so a request sees one consistent version
// from authentication to authorization.
type live struct {
	cfg      *config.Config
	authn    *authn.Authenticator // nil when authentication is off
	policy   *rbac.Policy
	tls      *tls.Config // nil without network.tls_cert
	cors     corsPolicy
	limiters *limiters // nil when rate limiting is off
	// certExpiry is when the serving certificate expires, caExpiry when
	// the first client CA does; zero without them.
	certExpiry, caExpiry time.Time
}

// Validate checks cfg as [New] does: every value and rule of
// [config.Config.Validate], then what the files it names hold (API keys,
// JWT keys, TLS certificates, the roles file), which it loads. It returns
// every problem at once, joined, each a *config.Error naming its key and
// where the key was set. validate-config prints them.
func Validate(cfg config.Config) error {
	_, err := check(&cfg, time.Now)
	return err
}

// check is Validate, returning also the state it loaded, so that starting
// or reloading a server reads each file once. A file's problems are
// reported on keys that have no problem of their own yet (a missing file
// is reported once, not also as unreadable).
func check(c *config.Config, now func() time.Time) (*live, error) {
	var errs []error
	reported := map[string]bool{}
	for _, e := range config.Problems(c.Validate()) {
		errs = append(errs, e)
		if ce, ok := e.(*config.Error); ok {
			reported[ce.Key] = true
		}
	}
	sec, err := loadLive(c, now)
	for _, e := range config.Problems(err) {
		if ce, ok := e.(*config.Error); !ok || !reported[ce.Key] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sec, nil
}

// loadLive reads every file the [auth], [authz] and TLS keys name and
// builds a live state. Each problem is a *config.Error on its key, so
// validate-config, start and reload report them alike.
func loadLive(c *config.Config, now func() time.Time) (*live, error) {
	var errs []error
	// One problem per line: a file with several problems (keys, roles)
	// gives one config.Error for each.
	bad := func(key string, err error) {
		for _, e := range config.Problems(err) {
			errs = append(errs, &config.Error{Where: c.Origin(key), Key: key, Message: e.Error()})
		}
	}
	sec := &live{
		cfg:      c,
		cors:     newCORSPolicy(c),
		limiters: newLimiters(c.Middleware.RateLimitRPS, c.RateLimitBurst(), maxLimiters),
	}
	var cfg authn.Config
	cfg.Clock = now
	cfg.APIKeyHeader = c.Auth.APIKeyHeader
	if c.Auth.JWTSecret != "" || c.Auth.JWTPublicKey != "" {
		jc := authn.JWTConfig{
			Algorithm: c.Auth.JWTAlgorithm,
			Secret:    authn.Secret(c.Auth.JWTSecret),
			Issuer:    c.Auth.JWTIssuer,
			Audience:  c.Auth.JWTAudience,
			Leeway:    c.Auth.JWTLeeway,
		}
		key := "auth.jwt_secret"
		if c.Auth.JWTPublicKey != "" {
			key = "auth.jwt_public_key"
			pem, err := os.ReadFile(c.Auth.JWTPublicKey)
			if err != nil {
				bad(key, err)
			}
			jc.PublicKeyPEM = pem
		}
		if len(errs) == 0 {
			v, err := authn.NewJWTVerifier(jc)
			if err != nil {
				bad(key, err)
			}
			cfg.JWT = v
		}
	}
	if c.Auth.APIKeysFile != "" {
		ks, err := authn.LoadAPIKeys(c.Auth.APIKeysFile)
		if err != nil {
			bad("auth.api_keys_file", err)
		}
		cfg.APIKeys = ks
	}
	if c.Network.TLSCert != "" && c.Network.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.Network.TLSCert, c.Network.TLSKey)
		if err != nil {
			bad("network.tls_cert", fmt.Errorf("cannot load the certificate and key: %w", err))
		}
		if len(cert.Certificate) > 0 {
			if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
				sec.certExpiry = leaf.NotAfter
			}
		}
		sec.tls = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			// Offering h2 through ALPN is what makes the server speak HTTP/2.
			NextProtos: []string{"h2", "http/1.1"},
		}
	}
	if c.Auth.MTLSCACert != "" {
		switch ca, err := os.ReadFile(c.Auth.MTLSCACert); {
		case err != nil:
			bad("auth.mtls_ca_cert", err)
		case sec.tls == nil:
			bad("auth.mtls_ca_cert", errors.New("client certificates need TLS on the API port: set network.tls_cert and network.tls_key"))
		default:
			mc, err := authn.MTLSConfig(sec.tls, ca)
			if err != nil {
				bad("auth.mtls_ca_cert", err)
			}
			sec.tls = mc
			sec.caExpiry = firstExpiry(ca)
			cfg.MTLS = true
			// Connections made before a reload are held to the CAs
			// trusted now, at every request.
			cfg.ClientCAs, _ = authn.ClientCAs(ca)
		}
	}
	if c.Auth.Enabled() {
		a, err := authn.New(cfg)
		if err != nil {
			bad("auth.api_key_header", err)
		}
		sec.authn = a
	}
	var err error
	if c.Authz.RolesFile != "" {
		sec.policy, err = rbac.LoadFile(c.Authz.RolesFile, rbac.Options{DefaultRole: c.Authz.DefaultRole})
		if err != nil {
			bad("authz.roles_file", err)
		}
	} else if sec.policy, err = rbac.Load(nil, rbac.Options{DefaultRole: c.Authz.DefaultRole}); err != nil {
		bad("authz.default_role", err)
	}
	if sec.policy != nil && cfg.APIKeys != nil {
		if err := cfg.APIKeys.CheckRoles(sec.policy.HasRole); err != nil {
			bad("auth.api_keys_file", err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sec, nil
}

// anonymousSubject is the subject of a request without credentials when
// auth.allow_anonymous lets it through an authenticating server: it gets
// the default role, plus what a roles-file binding for "anonymous" gives.
const anonymousSubject = "anonymous"

// principal is who a request acts as, once authenticated.
type principal struct {
	// unrestricted is set when authentication is off: the peer passed
	// protected mode (loopback, or allow_anonymous) and may do anything.
	unrestricted bool
	id           authn.Identity
	// label names a principal that is not a client, such as the operator
	// sending SIGHUP.
	label string
	// policy is the roles policy of the live state that authenticated the
	// request: authorization uses the same one, even if a reload swaps the
	// live state in between (nil outside a request: the current one).
	policy *rbac.Policy
}

func (p principal) subject() rbac.Subject {
	return rbac.Subject{Name: p.id.Subject, Roles: p.id.Roles, Collections: p.id.Collections}
}

// name is the identity as the audit log and access log show it.
func (p principal) name() string {
	switch {
	case p.label != "":
		return p.label
	case p.unrestricted:
		return "local" // no authentication configured: a loopback (or allowed anonymous) peer
	case p.id.Method == "":
		return anonymousSubject
	}
	return p.id.Subject
}

// principalFrom returns who the request acts as, set by withAuthentication.
func principalFrom(r *http.Request) principal { return exchangeFrom(r).who }

// withAuthentication identifies every API request (API.md §4). With
// authentication off it enforces protected mode instead: loopback peers, or
// everyone with auth.allow_anonymous, act unrestricted. With it on, a
// presented but invalid credential is 401 and never falls through; no
// credential is 401 unless auth.allow_anonymous admits it as "anonymous".
func (s *Server) withAuthentication(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sec := s.live.Load()
		var p principal
		if sec.authn == nil {
			if !sec.cfg.Auth.AllowAnonymous && !isLoopback(r.RemoteAddr) {
				s.audit.record(r, principal{unrestricted: true}, "access", "server", "denied", "protected_mode")
				writeErrorBody(w, errForbidden(protectedModeMessage))
				return
			}
			p.unrestricted = true
		} else {
			id, err := sec.authn.Authenticate(r)
			switch {
			case err == nil:
				s.metrics.authSuccesses.With(string(id.Method)).Inc()
				p.id = id
			case errors.Is(err, authn.ErrNoCredentials) && sec.cfg.Auth.AllowAnonymous:
				p.id = authn.Identity{Subject: anonymousSubject}
			default:
				// The connection closes after the answer: a client that
				// failed to authenticate does not keep a slot idle.
				w.Header().Set("Connection", "close")
				s.metrics.connsClosed.With("auth_failure").Inc()
				// Failed attempts spend the address's tokens: guessing
				// credentials meets 429 once the burst is gone.
				if ok, wait := sec.limiters.allow(clientKey(r, principal{}), s.now()); !ok {
					s.tooManyRequests(w, wait)
					return
				}
				method, reason := "none", "no_credentials"
				var ae *authn.Error
				if errors.As(err, &ae) {
					method, reason = string(ae.Method), ae.Reason
				}
				s.metrics.authFailures.With(method, reason).Inc()
				s.audit.record(r, principal{}, "authenticate", auditPath(r.URL.Path), "failure", method+": "+reason)
				w.Header().Set("WWW-Authenticate", authn.Challenge(err))
				msg := "authentication required: send Authorization: Bearer <JWT>, the " + sec.cfg.Auth.APIKeyHeader + " header, or a client certificate"
				if !errors.Is(err, authn.ErrNoCredentials) {
					msg = "the credential was refused (" + reason + ")"
				}
				writeErrorBody(w, &apiError{status: http.StatusUnauthorized, code: "unauthenticated", message: msg})
				return
			}
		}
		p.policy = sec.policy
		exchangeFrom(r).who = p
		next.ServeHTTP(w, r)
	})
}

// auditPath is a request path for the audit log, with a key name replaced
// by {key}: key names may be sensitive (the access log, likewise, shows
// routes, not paths).
func auditPath(p string) string {
	const prefix = "/v1/collections/"
	if rest, ok := strings.CutPrefix(p, prefix); ok {
		if i := strings.Index(rest, "/keys/"); i >= 0 {
			return prefix + rest[:i] + "/keys/{key}"
		}
	}
	return p
}

// authorize checks that the request's principal may perform a on res. A
// denial is audited and returned as a 403 error.
func (s *Server) authorize(r *http.Request, a rbac.Action, res rbac.Resource) error {
	p := principalFrom(r)
	if p.unrestricted {
		return nil
	}
	policy := p.policy
	if policy == nil {
		policy = s.live.Load().policy
	}
	err := policy.Authorize(p.subject(), a, res)
	if err == nil {
		return nil
	}
	reason := "denied"
	var de *rbac.DeniedError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	s.audit.record(r, p, a.String(), res.String(), "denied", reason)
	return errForbidden(fmt.Sprintf("%s may not %s %s (%s)", p.name(), a, res, reason))
}

// firstExpiry returns when the first of the PEM certificates in data
// expires, or zero for none.
func firstExpiry(data []byte) time.Time {
	var first time.Time
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return first
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && (first.IsZero() || c.NotAfter.Before(first)) {
			first = c.NotAfter
		}
	}
}
