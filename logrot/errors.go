package logrot

import "errors"

// ErrClosed is returned by [Writer.Write], [Writer.Rotate], [Writer.Reopen] and
// [Writer.Sync] when they are called after [Writer.Close].
var ErrClosed = errors.New("logrot: writer closed")

// ErrInvalidOptions is returned by [New] (wrapped, once per problem, joined
// with [errors.Join]) when [Options] has a field out of range, and by
// [ParseRotation] and [Rotation.UnmarshalText] for an unknown rotation name.
var ErrInvalidOptions = errors.New("logrot: invalid options")
