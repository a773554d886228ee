//go:build !linux

package server

// monotonicUsec is 0 (unknown) where systemd does not run.
func monotonicUsec() int64 { return 0 }
