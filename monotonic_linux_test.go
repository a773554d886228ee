package main

import (
	"syscall"
	"testing"
	"unsafe"
)

// monotonicUsec reads CLOCK_MONOTONIC in µs, the clock of systemd's
// MONOTONIC_USEC.
func monotonicUsec(t *testing.T) int64 {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		t.Fatal("clock_gettime:", errno)
	}
	return ts.Nano() / 1000
}
