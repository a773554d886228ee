package authn

import "context"

// identityKey is the context key of the request's Identity.
type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id, for handlers and the audit
// log downstream of authentication.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity stored by [WithIdentity], and false if
// there is none (an anonymous request, or one that never went through
// authentication).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
