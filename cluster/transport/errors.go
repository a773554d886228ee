package transport

import (
	"errors"
	"net/http"
)

var (
	// ErrMalformed is returned by Decoder.Decode for bytes that are not a
	// frame of a raft message.
	ErrMalformed = errors.New("transport: malformed raft message")

	// ErrTooLarge is returned by Decoder.Decode for a message above the
	// size bound, before its bytes are read.
	ErrTooLarge = errors.New("transport: raft message too large")

	// ErrRefused is returned (and answered with 403) for a request from a
	// peer that is not a member, whose certificate does not match the
	// member, or that carries a message not from it or not for us.
	ErrRefused = errors.New("transport: peer refused")

	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("transport: closed")
)

func isBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
