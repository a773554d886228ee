package machine

import "errors"

// ErrBadCommand is returned by Decode, and is the result error of an
// applied entry, when a command does not decode (the package doc's
// Idempotence section says how such an entry is applied). Every member
// reaches the same verdict on the same bytes.
var ErrBadCommand = errors.New("machine: malformed command")
