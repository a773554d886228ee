package authn

import "errors"

// ErrNoCredentials is returned by [Authenticator.Authenticate] when the
// request presents no credential at all: no verified client certificate, no
// Authorization header, no API key header. The caller decides whether
// anonymous access is allowed; every other failure is an [*Error].
var ErrNoCredentials = errors.New("authn: no credentials")

// ErrInvalidCredentials is what every [*Error] unwraps to: a credential was
// presented and refused. Test with errors.Is(err, ErrInvalidCredentials); the
// request must then be answered 401 without trying any other method.
var ErrInvalidCredentials = errors.New("authn: invalid credentials")

// ErrUnsupportedAlgorithm is returned by [NewJWTVerifier] when the configured
// algorithm is not one of HS256, HS384, HS512, RS256, RS384, RS512, ES256,
// ES384 or EdDSA (ES512 and PS* are deliberately absent, and "none" never
// will be).
var ErrUnsupportedAlgorithm = errors.New("authn: unsupported algorithm")

// ErrWeakKey is returned by [NewJWTVerifier] when the configured key is too
// weak: an HMAC secret shorter than 32 bytes or than the hash output (RFC 7518
// §3.2), the documented placeholder "change-me", or an RSA key under 2048 bits.
var ErrWeakKey = errors.New("authn: key too weak")

// ErrKeyMismatch is returned by [NewJWTVerifier] when the key does not fit the
// configured algorithm: an EC key on the wrong curve, an RSA key for ES256, a
// public key given for an HS algorithm, and so on.
var ErrKeyMismatch = errors.New("authn: key does not match algorithm")

// Reasons carried by [Error]. They are short, fixed tokens, safe to use as a
// metric label or an audit field: none of them ever contains any part of the
// credential.
const (
	ReasonMalformed         = "malformed"              // not a compact JWS: segments, characters, base64
	ReasonTooLarge          = "too_large"              // credential longer than its cap
	ReasonBadHeader         = "bad_header"             // JOSE header not a strict JSON object, or alg missing or not a string
	ReasonAlgorithm         = "alg_not_allowed"        // header alg differs from the configured one (incl. "none")
	ReasonCrit              = "unsupported_crit"       // header lists critical extensions
	ReasonType              = "bad_type"               // typ is not a JWT type, or cty announces a nested JWT
	ReasonSignature         = "bad_signature"          // signature or MAC does not verify
	ReasonClaims            = "bad_claims"             // claims not a strict JSON object, or a claim of the wrong type
	ReasonMissingExp        = "missing_exp"            // no exp claim
	ReasonMissingSub        = "missing_sub"            // no sub claim, or an empty one
	ReasonExpired           = "expired"                // exp passed, API key or client certificate expired
	ReasonNotYetValid       = "not_yet_valid"          // nbf in the future, or certificate not yet valid
	ReasonIssuedInFuture    = "issued_in_future"       // iat in the future
	ReasonIssuer            = "bad_issuer"             // iss missing or different while an issuer is configured
	ReasonAudience          = "bad_audience"           // aud missing or without the configured audience
	ReasonUnknownKey        = "unknown_key"            // API key matches no entry
	ReasonScheme            = "unsupported_scheme"     // Authorization header with a scheme other than Bearer
	ReasonNotConfigured     = "not_configured"         // credential for a method that is not enabled
	ReasonTokenInQuery      = "token_in_query"         // access_token or api_key in the URL query
	ReasonAmbiguous         = "ambiguous"              // the same credential header sent more than once, or a certificate with several CNs
	ReasonUnverifiedCert    = "unverified_certificate" // client certificate without a verified chain
	ReasonNoCommonName      = "no_common_name"         // verified client certificate with an empty subject CN
	ReasonBadCredentialForm = "bad_credential"         // empty or non-printable API key
)

// Error describes a refused credential. Method is the method the credential
// was presented for and Reason one of the Reason constants. Error values
// never hold the credential itself, so they may be logged and audited.
type Error struct {
	Method Method
	Reason string
}

// Error returns "authn: METHOD: REASON".
func (e *Error) Error() string {
	return "authn: " + string(e.Method) + ": " + e.Reason
}

// Unwrap returns [ErrInvalidCredentials].
func (e *Error) Unwrap() error { return ErrInvalidCredentials }

func fail(m Method, reason string) error {
	return &Error{Method: m, Reason: reason}
}
