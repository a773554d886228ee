//go:build unix

package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockFile takes a non-blocking exclusive flock on name (created with
// mode if missing) and records the process ID in it. It returns a
// *heldError when another process holds the lock.
func lockFile(name string, mode os.FileMode) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return nil, err
	}
	if err := flockNB(f); err != nil {
		f.Close()
		return nil, err
	}
	// The ID is informational: a lock file that could not be rewritten
	// (a full disk) still locks.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// flockNB takes the exclusive lock of f without waiting.
func flockNB(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return &heldError{lock: f.Name(), pid: readPID(f.Name())}
		}
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// sameFile reports whether f is still the file at its path: a lock taken
// on a file that was unlinked or replaced meanwhile locks nothing.
func sameFile(f *os.File) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(f.Name())
	return err == nil && os.SameFile(a, b)
}

// readPID returns the process ID a lock or pid file records, or 0.
func readPID(name string) int {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
