package lsm_test

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"amaters-server/lsm"
)

// errInjected is the error errorFS injects unless told otherwise.
var errInjected = errors.New("injected error")

// errorFS wraps an FS and fails operations: the Nth counted operation
// (once, or that one and every later one when sticky), or every Sync when
// failSyncs is set. Counted operations are Create, Write, Sync, Rename and
// Remove: the ones that change state. Modelled on Pebble's vfs/errorfs.
type errorFS struct {
	lsm.FS
	mu        sync.Mutex // guards the fields below
	n         int        // ops so far
	failAt    int        // 1-based op to fail; 0 = none
	sticky    bool
	err       error
	failSyncs bool
	// syncFiles, when set, limits failSyncs to the files it accepts.
	syncFiles func(name string) bool
	// full makes writes to files for which fullFiles is nil or true
	// write half their bytes and fail with ENOSPC, as a file system that
	// runs out of space part-way does.
	full      bool
	fullFiles func(name string) bool
}

// fullWrite reports how many of n bytes a write to name may write before
// failing with ENOSPC, or -1 if it is not failed.
func (e *errorFS) fullWrite(name string, n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.full || (e.fullFiles != nil && !e.fullFiles(name)) {
		return -1
	}
	return n / 2
}

func (e *errorFS) setFull(full bool, files func(string) bool) {
	e.mu.Lock()
	e.full, e.fullFiles = full, files
	e.mu.Unlock()
}

func (e *errorFS) check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.failAt > 0 && (e.n == e.failAt || (e.sticky && e.n > e.failAt)) {
		return e.err
	}
	return nil
}

func (e *errorFS) syncErr(name string) error {
	e.mu.Lock()
	fail := e.failSyncs && (e.syncFiles == nil || e.syncFiles(name))
	e.mu.Unlock()
	if fail {
		return e.err
	}
	return e.check()
}

func (e *errorFS) Create(name string) (lsm.File, error) {
	if err := e.check(); err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	f, err := e.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e, name: name}, nil
}

func (e *errorFS) OpenDir(name string) (lsm.File, error) {
	f, err := e.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e, name: name}, nil
}

func (e *errorFS) Rename(o, n string) error {
	if err := e.check(); err != nil {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: err}
	}
	return e.FS.Rename(o, n)
}

func (e *errorFS) Remove(name string) error {
	if err := e.check(); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return e.FS.Remove(name)
}

func (e *errorFS) Lock(name string) (io.Closer, error) { return e.FS.Lock(name) }

type errorFile struct {
	lsm.File
	fs   *errorFS
	name string
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.fs.check(); err != nil {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: err}
	}
	if n := f.fs.fullWrite(f.name, len(p)); n >= 0 {
		n, _ = f.File.Write(p[:n])
		return n, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *errorFile) Sync() error {
	if err := f.fs.syncErr(f.name); err != nil {
		return &os.PathError{Op: "sync", Path: "file", Err: err}
	}
	return f.File.Sync()
}

// enospc is what a full disk returns.
var enospc error = syscall.ENOSPC
