package server

import (
	"syscall"
	"unsafe"
)

// monotonicUsec returns CLOCK_MONOTONIC in µs (systemd's MONOTONIC_USEC),
// or 0 if the clock cannot be read. Go's time package keeps its monotonic
// reading private, so the clock is asked directly.
func monotonicUsec() int64 {
	const clockMonotonic = 1 // CLOCK_MONOTONIC, <linux/time.h>
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return ts.Nano() / 1000
}
