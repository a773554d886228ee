// Package authn identifies the caller of an HTTP request by a client
// certificate (mTLS), a JWT bearer token or an API key, as API.md §4
// specifies. It answers "who is this?"; what the caller may do is package
// rbac's question.
//
// An [Authenticator] is built from the pieces that are enabled, each parsed
// and checked on its own so a configuration or reload error names its file:
//
//	jwt, err := authn.NewJWTVerifier(authn.JWTConfig{Algorithm: "ES256", PublicKeyPEM: pemBytes, Issuer: "idp", Audience: "amaters", Leeway: 30 * time.Second})
//	keys, err := authn.LoadAPIKeys("/etc/amaters/api_keys.json")
//	a, err := authn.New(authn.Config{JWT: jwt, APIKeys: keys, MTLS: true})
//	id, err := a.Authenticate(r)
//
// The TLS side of mTLS (requiring and verifying client certificates against
// the mtls_ca_cert bundle) is set up on the listener with [MTLSConfig].
//
// # Rules
//
// [Authenticator.Authenticate] tries mTLS, then "Authorization: Bearer",
// then the API key header. The first credential found decides: if it is
// invalid the request is refused, never passed on to the next method or to
// anonymous access. JWT verification pins the algorithm to the
// configuration and implements the RFC 8725 checklist (see [JWTVerifier]
// for every rule). API keys are stored as SHA-256 hashes and compared in
// constant time (see [KeySet]).
//
// # Errors
//
// A request without any credential gets [ErrNoCredentials]. A refused
// credential gets an [*Error] that wraps [ErrInvalidCredentials] and carries
// the method and a fixed reason token (the Reason constants), suitable as
// the reason label of amaters_auth_failures_total and for the audit log.
// Errors never contain the credential, and the 401 answer should not
// explain more than [Challenge] does. Configuration errors wrap
// [ErrUnsupportedAlgorithm], [ErrWeakKey] or [ErrKeyMismatch], or describe
// the file problem with its position.
//
// # Secrets
//
// [Secret] is a string type that prints as "[REDACTED]" through fmt,
// log/slog and text or JSON encoders; use it for the HMAC secret.
//
// # Concurrency
//
// [Authenticator], [JWTVerifier] and [KeySet] are immutable once built and
// safe for concurrent use. Reload by building new values and swapping a
// pointer; requests in flight finish with the old ones.
package authn
