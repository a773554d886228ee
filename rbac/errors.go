package rbac

import "errors"

// ErrDenied is what every [*DeniedError] unwraps to: the subject may not
// perform the action on the resource. Test with errors.Is(err, ErrDenied)
// and answer 403.
var ErrDenied = errors.New("rbac: permission denied")

// Reasons carried by [DeniedError], fixed tokens for the audit log.
const (
	ReasonNoPermission = "no_permission"           // no role of the subject grants the action on the resource
	ReasonNotAssigned  = "collection_not_assigned" // a role would allow it on assigned collections, but this one is not assigned
	ReasonInvalid      = "invalid_request"         // zero Action or Resource
)

// DeniedError is returned by [Policy.Authorize] for a denied request. It
// names the subject, the action, the resource and a Reason constant, all
// safe to log.
type DeniedError struct {
	Subject  string
	Action   Action
	Resource Resource
	Reason   string
}

// Error returns "rbac: SUBJECT may not ACTION RESOURCE: REASON".
func (e *DeniedError) Error() string {
	return "rbac: " + e.Subject + " may not " + e.Action.String() + " " + e.Resource.String() + ": " + e.Reason
}

// Unwrap returns [ErrDenied].
func (e *DeniedError) Unwrap() error { return ErrDenied }
