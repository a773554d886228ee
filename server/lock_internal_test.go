//go:build unix

package server

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"amaters-server/lsm"
)

// flock locks belong to an open file, so a second lock taken by this
// process through another open of the same file is refused as another
// process's would be: these tests need no second process.

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	if err := DataDirHolder(dir); err != nil {
		t.Fatalf("holder of a folder never locked: %v", err)
	}
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pid := "process " + strconv.Itoa(os.Getpid())
	_, err = lockDataDir(dir)
	if !errors.Is(err, lsm.ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), pid) || !strings.Contains(err.Error(), "server.data_dir") {
		t.Fatalf("second lock: %v", err)
	}
	if err := DataDirHolder(dir); !errors.Is(err, lsm.ErrLocked) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("holder while locked: %v", err)
	}
	l.Close()
	if err := DataDirHolder(dir); err != nil {
		t.Fatalf("holder after the release: %v", err)
	}
	l, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the release: %v", err)
	}
	l.Close()
}

func TestPIDFile(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "run", "amaters.pid")
	me := strconv.Itoa(os.Getpid())
	l, err := writePIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != me+"\n" {
		t.Fatalf("pid file holds %q", b)
	}
	_, err = writePIDFile(path)
	if !errors.Is(err, lsm.ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "process "+me) || !strings.Contains(err.Error(), "server.pid_file") {
		t.Fatalf("second pid file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != me+"\n" {
		t.Fatalf("pid file after the refusal holds %q", b)
	}
	removePIDFile(path, log)
	l.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pid file not removed: %v", err)
	}

	// A file a crash left (unlocked, another process's id) is taken over.
	os.WriteFile(path, []byte("4194304\n"), 0o644)
	l, err = writePIDFile(path)
	if err != nil {
		t.Fatalf("stale pid file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != me+"\n" {
		t.Fatalf("stale pid file not taken over: %q", b)
	}
	l.Close()

	// A pid file that names another process is never removed.
	os.WriteFile(path, []byte("4194304\n"), 0o644)
	removePIDFile(path, log)
	if b, _ := os.ReadFile(path); string(b) != "4194304\n" {
		t.Fatalf("another's pid file: %q", b)
	}
}

func TestLogFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	l, err := lockLogFile(path, "logging.file")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = lockLogFile(path, "audit.file")
	if !errors.Is(err, lsm.ErrLocked) || !strings.Contains(err.Error(), "audit.file "+path) || !strings.Contains(err.Error(), "must be different files") {
		t.Fatalf("a second lock of one log: %v", err)
	}
}
