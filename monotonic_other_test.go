//go:build !linux

package main

import "testing"

// monotonicUsec: systemd, and so MONOTONIC_USEC, is Linux only.
func monotonicUsec(t *testing.T) int64 {
	t.Skip("systemd's MONOTONIC_USEC is Linux only")
	return 0
}
