//go:build unix

package lsm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockFile takes a non-blocking exclusive flock on name and writes the
// process ID into it. The lock dies with the process, so a crashed server
// never leaves a stale lock behind; the ID is only for the message of the
// next process that finds the lock taken.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: filepath.Dir(name), Lock: name, PID: readLockPID(name)}
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// The ID is informational: a lock file that could not be rewritten
	// (a full disk) still locks, and the database may be opened to free
	// space, so a failure here is not an error of Open.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// lockHolder reports whether another holder has the lock on name, and the
// process ID it recorded, without creating, writing or keeping the lock.
func lockHolder(name string) (held bool, pid int, err error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, readLockPID(name), nil
		}
		return false, 0, fmt.Errorf("probe lock %s: %w", name, err)
	}
	return false, 0, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// readLockPID returns the process ID a lock file records, or 0.
func readLockPID(name string) int {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(trimNewline(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
