package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// The pid file is locked (flock on the file itself) for as long as the
// server runs. A second server with the same server.pid_file finds the
// lock taken and refuses to start, naming the first; a pid file left by a
// crash is unlocked, and the next server takes it over. The lock, not the
// process ID in the file, tells a live owner from a stale file, so a
// recycled process ID is never mistaken for a running server.

// writePIDFile takes the pid file's lock and writes the process ID into
// it, then fsyncs it and its folder. The returned lock is held until the
// caller closes it, after removePIDFile at exit.
func writePIDFile(path string) (io.Closer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pid file folder: %w", err)
	}
	// A server that exits removes its pid file, which another may have
	// opened a moment before: the lock it then takes is on a file no
	// longer at the path, so it opens the path again.
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
		if err := flockNB(f); err != nil {
			f.Close()
			var held *heldError
			if errors.As(err, &held) {
				return nil, &lockedError{what: "pid file " + path, lock: path, pid: held.pid,
					hint: "another amaters-server with this server.pid_file is running; stop it first, or give this one another server.pid_file"}
			}
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		if !sameFile(f) {
			f.Close()
			continue
		}
		err = f.Truncate(0)
		if err == nil {
			_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = syncDir(dir)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("pid file %s: replaced again and again while being locked; is another program writing it?", path)
}

// syncDir fsyncs a folder, making the names created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removePIDFile removes the pid file if it still holds this process's id:
// never another server's. It is called while the lock is still held.
func removePIDFile(path string, log *slog.Logger) {
	if readPID(path) != os.Getpid() {
		return
	}
	if err := os.Remove(path); err != nil {
		log.Warn("could not remove pid file", slog.String("path", path), slog.String("error", err.Error()))
	}
}
