package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// writePIDFile writes the process id atomically: temp file, fsync, rename,
// then an fsync of the folder, so that the name survives a crash too.
func writePIDFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pid file folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".amaters-pid-*")
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", os.Getpid())
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pid file %s: %w", path, werr)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("pid file %s: sync its folder: %w", path, err)
	}
	return nil
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

// removePIDFile removes the pid file if it still holds this process's id.
func removePIDFile(path string, log *slog.Logger) {
	data, err := os.ReadFile(path)
	if err != nil || string(data) != fmt.Sprintf("%d\n", os.Getpid()) {
		return
	}
	if err := os.Remove(path); err != nil {
		log.Warn("could not remove pid file", slog.String("path", path), slog.String("error", err.Error()))
	}
}
