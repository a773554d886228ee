package blake3

import "errors"

// ErrKeySize is returned by [NewKeyed] when the key is not [KeySize] bytes
// long.
var ErrKeySize = errors.New("blake3: key must be 32 bytes")
