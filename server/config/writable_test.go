package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/server/config"
)

// validate-config names every folder start could not create or write in,
// instead of start failing on it later.
func TestFoldersMustBeWritable(t *testing.T) {
	dir := t.TempDir()
	afile := writeFile(t, dir, "afile", "x")
	path := writeFile(t, dir, "c.toml", "[server]\ndata_dir = \"afile/data\"\npid_file = \"afile/run/amaters.pid\"\n"+
		"[logging]\nfile = \"afile/log/server.log\"\n[audit]\nfile = \"afile/audit.log\"\n")
	_, probs := loadAndValidate(t, path, nil, config.Overrides{})
	for _, key := range []string{"server.data_dir", "server.pid_file", "logging.file", "audit.file"} {
		wantProblem(t, probs, key+": folder ")
	}
	for _, p := range probs {
		if !strings.Contains(p, afile+" is a file") {
			t.Errorf("problem does not name the file in the way: %s", p)
		}
	}

	// A folder this user may not write in (root may write anywhere).
	if os.Getuid() == 0 {
		t.Log("running as root: the permission case is not testable here")
		return
	}
	locked := filepath.Join(dir, "locked")
	os.Mkdir(locked, 0o500)
	defer os.Chmod(locked, 0o700)
	path = writeFile(t, dir, "d.toml", "[server]\ndata_dir = \"locked\"\n[storage]\nwal_dir = \"locked/wal\"\n")
	_, probs = loadAndValidate(t, path, nil, config.Overrides{})
	wantProblem(t, probs, "server.data_dir: folder "+locked+" is not writable by this user")
	wantProblem(t, probs, "storage.wal_dir: folder "+filepath.Join(locked, "wal")+" cannot be created: "+locked+" is not writable")

	// Writable folders, existing or not yet, pass; the check leaves
	// nothing behind.
	path = writeFile(t, dir, "e.toml", "[server]\ndata_dir = \"new/data\"\n")
	if _, probs = loadAndValidate(t, path, nil, config.Overrides{}); len(probs) != 0 {
		t.Errorf("a creatable data folder: %v", probs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".amaters-write-check-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// The access log's own file is nobody else's: two writers rotating one
// file lose lines and backups.
func TestAccessLogFileIsItsOwn(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ conf, clash string }{
		{"[logging]\nfile = \"x.log\"\n[observability]\naccess_log_file = \"x.log\"\n", "logging.file"},
		{"[audit]\nfile = \"./a/../x.log\"\n[observability]\naccess_log_file = \"x.log\"\n", "audit.file"},
	} {
		path := writeFile(t, dir, "c.toml", "[server]\ndata_dir = \"data\"\n"+tc.conf)
		_, probs := loadAndValidate(t, path, nil, config.Overrides{})
		wantProblem(t, probs, "observability.access_log_file: "+filepath.Join(dir, "x.log")+" is also "+tc.clash)
	}
	// Its own file, or the audit log off: fine.
	for _, conf := range []string{
		"[logging]\nfile = \"server.log\"\n[observability]\naccess_log_file = \"access.log\"\n",
		"[audit]\nenabled = false\nfile = \"x.log\"\n[observability]\naccess_log_file = \"x.log\"\n",
	} {
		path := writeFile(t, dir, "c.toml", "[server]\ndata_dir = \"data\"\n"+conf)
		if _, probs := loadAndValidate(t, path, nil, config.Overrides{}); len(probs) != 0 {
			t.Errorf("%q: %v", conf, probs)
		}
	}
}
