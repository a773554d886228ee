package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"amaters-server/lsm"
)

// Locks on what the server owns.
//
// Every folder and file a server writes is its own: two servers on one data
// folder, log folder, pid file, log file or audit file would destroy each
// other's data or records. Each is locked with an advisory lock (flock)
// that the kernel releases when the process ends, so a crash never leaves
// a stale lock, and the lock file records the holder's process ID for the
// message of the next one that finds it taken:
//
//   - the data folder, for every engine (memory too): <data_dir>/amaters-server.lock;
//   - the lsm engine's table folder and log folder: lsm's own LOCK files
//     (see package lsm, "Locks");
//   - the pid file: the pid file itself, locked for as long as the server
//     runs (see pidfile.go);
//   - logging.file and audit.file: <file>.lock beside each (the file itself
//     is renamed by rotation, so it cannot carry the lock).
//
// Lock files are never deleted: deleting one while another process waits
// to open it would let two holders in.

// dataDirLockName is the data folder's lock file.
const dataDirLockName = "amaters-server.lock"

// lockedError reports a file or folder another process holds. It matches
// errors.Is(err, lsm.ErrLocked), like lsm's own *lsm.LockedError.
type lockedError struct {
	what string // "data folder /d", "log file /l (logging.file)"
	lock string // the lock file
	pid  int    // the holder the lock file names, or 0
	hint string // what to do
}

func (e *lockedError) Error() string {
	who := "another process"
	if e.pid > 0 {
		who = fmt.Sprintf("process %d", e.pid)
	}
	return fmt.Sprintf("%s is in use by %s (lock file %s): %s", e.what, who, e.lock, e.hint)
}

func (e *lockedError) Unwrap() error { return lsm.ErrLocked }

// lockDataDir locks the data folder for this process. The caller closes
// the returned lock at exit.
func lockDataDir(dir string) (io.Closer, error) {
	l, err := lockFile(filepath.Join(dir, dataDirLockName), 0o600)
	var held *heldError
	if errors.As(err, &held) {
		return nil, &lockedError{what: "data folder " + dir, lock: held.lock, pid: held.pid,
			hint: "another amaters-server serves it; stop that server first, or give this one another server.data_dir (two servers never share a data folder)"}
	}
	if err != nil {
		return nil, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	return l, nil
}

// lockLogFile locks a log file (logging.file or audit.file, named by key)
// through its lock file beside it.
func lockLogFile(path, key string) (io.Closer, error) {
	l, err := lockFile(path+".lock", 0o600)
	var held *heldError
	if errors.As(err, &held) {
		hint := "another amaters-server writes to it; give each server its own " + key + " (two servers never share a log file)"
		if held.pid == os.Getpid() {
			hint = "this server already writes it as its other log: logging.file and audit.file must be different files"
		}
		return nil, &lockedError{what: fmt.Sprintf("%s %s", key, path), lock: held.lock, pid: held.pid, hint: hint}
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s %s: %w", key, path, err)
	}
	return l, nil
}

// DataDirHolder reports the process that holds the data folder dir, as a
// non-nil error naming it (matching errors.Is(err, lsm.ErrLocked)), or nil
// when no process holds it. It takes no lock and creates nothing: the
// check command asks it before reading a stopped database.
func DataDirHolder(dir string) error {
	lock := filepath.Join(dir, dataDirLockName)
	held, pid, err := lsm.LockHolder(lock)
	if err != nil {
		return err
	}
	if held {
		return &lockedError{what: "data folder " + dir, lock: lock, pid: pid,
			hint: "a running amaters-server serves it; stop it first (check reads a stopped database only)"}
	}
	return nil
}

// heldError is lockFile's error for a lock another process holds.
type heldError struct {
	lock string
	pid  int
}

func (e *heldError) Error() string { return fmt.Sprintf("%s is locked by process %d", e.lock, e.pid) }
