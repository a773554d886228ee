package main

// Black-box tests of storage integrity (issue 13), through the binary: a
// database damaged while the server is stopped is refused with the file
// named, or served whole; never a 404 for an acknowledged key. Every
// folder and file a server owns is locked against a second server.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// putKeys writes keys [from, to) of collection c, 100 per batch; the
// value of keyName(i) is value(i).
func putKeys(t *testing.T, d *daemon, from, to int) {
	t.Helper()
	for lo := from; lo < to; lo += 100 {
		type op struct {
			Op         string `json:"op"`
			Collection string `json:"collection"`
			Key        string `json:"key"`
			Value      string `json:"value"`
		}
		var ops []op
		for i := lo; i < min(lo+100, to); i++ {
			ops = append(ops, op{"set", "c", base64.StdEncoding.EncodeToString([]byte(keyName(i))), base64.StdEncoding.EncodeToString([]byte(value(i)))})
		}
		body, _ := json.Marshal(map[string]any{"ops": ops})
		resp, err := http.Post("http://"+d.api+"/v1/batch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("batch: %d", resp.StatusCode)
		}
	}
}

func keyName(i int) string { return fmt.Sprintf("key-%05d", i) }
func value(i int) string   { return fmt.Sprintf("value-%05d-%s", i, strings.Repeat("x", 100)) }

// readKeys reads keys [0, n) and returns how many answered 200 with the
// right value and how many 500 (a read refused on damage). Any other
// answer (a 404, a wrong value) fails the test: a silent loss.
func readKeys(t *testing.T, d *daemon, n int) (ok, refused int) {
	t.Helper()
	for i := range n {
		resp, err := http.Get("http://" + d.api + "/v1/collections/c/keys/" + keyName(i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200 && string(body) == value(i):
			ok++
		case resp.StatusCode == 500:
			refused++
		default:
			t.Fatalf("%s: %d %.60q: an acknowledged key answered wrongly (silent loss)", keyName(i), resp.StatusCode, body)
		}
	}
	return ok, refused
}

// stopDaemon stops d by SIGTERM (clean: the memtable goes to a table) or
// SIGKILL (the data stays in the write-ahead log).
func stopDaemon(t *testing.T, d *daemon, kill bool) {
	t.Helper()
	if kill {
		d.cmd.Process.Kill()
	} else {
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	d.wait(t, 30*time.Second)
}

func glob1(t *testing.T, pattern string) []string {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	slices.Sort(files)
	return files
}

// lastWithData is the last of files that holds data: the log folder may
// also hold the next log, prepared empty ahead of a memtable switch.
func lastWithData(t *testing.T, files []string) string {
	t.Helper()
	for i := len(files) - 1; i >= 0; i-- {
		if st, err := os.Stat(files[i]); err == nil && st.Size() > 0 {
			return files[i]
		}
	}
	t.Fatalf("none of %v holds data", files)
	return ""
}

func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamageSuite damages the files of stopped databases the ways disks,
// file systems and operators do, then restarts them. Each case passes
// when the start is refused with the damaged file named (and check, run
// first, reports damage), or when every acknowledged key is served with
// its value (a read may fail with 500 on damage it meets, never answer
// 404).
func TestDamageSuite(t *testing.T) {
	const n = 1000
	type damage func(t *testing.T, data string) string // returns the file damaged
	cut := func(pattern string, size func(int64) int64) damage {
		return func(t *testing.T, data string) string {
			fs := glob1(t, filepath.Join(data, pattern))
			f := lastWithData(t, fs)
			st, _ := os.Stat(f)
			if err := os.Truncate(f, size(st.Size())); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	flip := func(pattern string, at func(int64) int64) damage {
		return func(t *testing.T, data string) string {
			fs := glob1(t, filepath.Join(data, pattern))
			f := lastWithData(t, fs)
			rewrite(t, f, func(b []byte) []byte { b[at(int64(len(b)))] ^= 0x10; return b })
			return f
		}
	}
	zero := func(pattern string) damage {
		return func(t *testing.T, data string) string {
			fs := glob1(t, filepath.Join(data, pattern))
			f := lastWithData(t, fs)
			rewrite(t, f, func(b []byte) []byte { clear(b[len(b)/2:]); return b })
			return f
		}
	}
	remove := func(pattern string) damage {
		return func(t *testing.T, data string) string {
			fs := glob1(t, filepath.Join(data, pattern))
			f := lastWithData(t, fs)
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	// copyOver copies the first table over the last; swap exchanges them.
	copyOver := func(swap bool) damage {
		return func(t *testing.T, data string) string {
			fs := glob1(t, filepath.Join(data, "db", "*.sst"))
			if len(fs) < 2 {
				t.Fatalf("want 2 tables, have %v", fs)
			}
			a, b := fs[0], fs[len(fs)-1]
			ab, _ := os.ReadFile(a)
			bb, _ := os.ReadFile(b)
			os.WriteFile(b, ab, 0o600)
			if swap {
				os.WriteFile(a, bb, 0o600)
			}
			return b
		}
	}
	half := func(n int64) int64 { return n / 2 }
	cases := []struct {
		name   string
		sync   string
		kill   bool // stop by SIGKILL: the last writes are in the log only
		damage damage
	}{
		{"manifest cut by 1 byte", "always", false, cut("db/MANIFEST-*", func(n int64) int64 { return n - 1 })},
		{"manifest cut to 100 bytes", "always", false, cut("db/MANIFEST-*", func(int64) int64 { return 100 })},
		{"manifest flipped", "always", false, flip("db/MANIFEST-*", half)},
		{"manifest deleted", "always", false, remove("db/MANIFEST-*")},
		{"CURRENT deleted", "always", false, remove("db/CURRENT")},
		{"CURRENT emptied", "always", false, cut("db/CURRENT", func(int64) int64 { return 0 })},
		{"table deleted", "always", false, remove("db/*.sst")},
		{"table cut by 1 byte", "always", false, cut("db/*.sst", func(n int64) int64 { return n - 1 })},
		{"table emptied", "always", false, cut("db/*.sst", func(int64) int64 { return 0 })},
		{"table copied over another", "always", false, copyOver(false)},
		{"tables swapped", "always", false, copyOver(true)},
		{"table flipped in the middle", "always", false, flip("db/*.sst", func(n int64) int64 { return n / 3 })},
		{"write(2) log deleted", "always", true, remove("wal/*.log")},
		{"write(2) log emptied", "always", true, cut("wal/*.log", func(int64) int64 { return 0 })},
		{"write(2) log cut to half", "always", true, cut("wal/*.log", half)},
		{"write(2) log zeroed from the middle", "always", true, zero("wal/*.log")},
		{"write(2) log flipped", "always", true, flip("wal/*.log", half)},
		{"write(2) log cut by 1 byte", "always", true, cut("wal/*.log", func(n int64) int64 { return n - 1 })},
		{"table deleted after a crash", "always", true, remove("db/*.sst")},
		{"manifest cut by 1 byte after a crash", "always", true, cut("db/MANIFEST-*", func(n int64) int64 { return n - 1 })},
		{"interval log flipped", "interval", true, flip("wal/*.log", half)},
		{"interval log cut by 1 byte", "interval", true, cut("wal/*.log", func(n int64) int64 { return n - 1 })},
		{"mapped log deleted", "none", true, remove("wal/*.log")},
		{"mapped log cut by 1 byte", "none", true, cut("wal/*.log", func(n int64) int64 { return n - 1 })},
		{"mapped log flipped", "none", true, flip("wal/*.log", func(n int64) int64 { return 100 })},
	}
	var table strings.Builder
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"--engine", "lsm", "--data-dir", data,
				"--config", writeConfig(t, fmt.Sprintf("[storage]\nsync = %q\n[cache]\nmax_entries = 0\n", c.sync))}
			// Two sessions, two tables after clean stops.
			d := startDaemon(t, args...)
			putKeys(t, d, 0, n/2)
			stopDaemon(t, d, false)
			d = startDaemon(t, args...)
			putKeys(t, d, n/2, n)
			stopDaemon(t, d, c.kill)

			file := c.damage(t, data)
			checkCode, checkOut, checkErr := cli(t, nil, "check", "--data-dir", data)
			d, code, out := tryStart(t, args...)
			result := ""
			if d == nil {
				if code != 1 || !strings.Contains(out, filepath.Base(file)) || !strings.Contains(out, "restore") || !strings.Contains(out, "amaters-server check") {
					t.Fatalf("refused without naming %s, check and the restore: exit %d\n%s", file, code, out)
				}
				if checkCode != 1 || !strings.Contains(checkOut, "DAMAGE") {
					t.Fatalf("the start refused, but check exited %d:\n%s%s", checkCode, checkOut, checkErr)
				}
				result = "refused, file named; check: damaged"
			} else {
				ok, refused := readKeys(t, d, n)
				result = fmt.Sprintf("served: %d ok, %d reads refused (500), 0 lost; check exit %d", ok, refused, checkCode)
				if refused > 0 && checkCode != 1 {
					t.Errorf("reads met damage, but check exited %d:\n%s", checkCode, checkOut)
				}
			}
			t.Logf("%s: %s", c.name, result)
			fmt.Fprintf(&table, "  %-38s %-6s kill=%-5v %s\n", c.name, c.sync, c.kill, result)
		})
	}
	t.Logf("damage suite (%d keys each):\n%s", n, table.String())
}

// TestCheckCommand runs check on a clean and a damaged folder, on one a
// server holds, and with bad command lines.
func TestCheckCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, "--engine", "lsm", "--data-dir", data)
	putKeys(t, d, 0, 300)

	code, _, errOut := cli(t, nil, "check", "--data-dir", data)
	pid := strconv.Itoa(d.cmd.Process.Pid)
	if code != 1 || !strings.Contains(errOut, "process "+pid) || !strings.Contains(errOut, data) {
		t.Fatalf("check of a folder a server holds: exit %d, want 1 naming process %s:\n%s", code, pid, errOut)
	}
	stopDaemon(t, d, false)

	code, out, errOut := cli(t, nil, "check", "--data-dir", data)
	// 300 keys, plus the store's revision and history records.
	if code != 0 || !strings.Contains(out, "clean: no damage") || !regexp.MustCompile(`tables: \d+, \d+ bytes, (3\d\d|[4-9]\d\d) entries`).MatchString(out) {
		t.Fatalf("check of a clean folder: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cli(t, nil, "check", "--data-dir", data, "--format", "json")
	var r struct {
		Damaged      bool            `json:"damaged"`
		TableEntries int             `json:"table_entries"`
		Findings     json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r.Damaged || r.TableEntries < 300 || string(r.Findings) != "[]" {
		t.Fatalf("check --format json of a clean folder: exit %d %v %+v\n%s", code, err, r, out)
	}

	tables := glob1(t, filepath.Join(data, "db", "*.sst"))
	rewrite(t, tables[0], func(b []byte) []byte { b[len(b)/3] ^= 1; return b })
	code, out, _ = cli(t, nil, "check", "--data-dir", data)
	if code != 1 || !strings.Contains(out, "DAMAGE "+tables[0]) {
		t.Fatalf("check of a damaged table: exit %d\n%s", code, out)
	}
	code, out, _ = cli(t, nil, "check", "--data-dir", data, "--format", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || !r.Damaged || !strings.Contains(string(r.Findings), filepath.Base(tables[0])) {
		t.Fatalf("check --format json of a damaged table: exit %d %v\n%s", code, err, out)
	}

	mem := filepath.Join(t.TempDir(), "mem")
	os.Mkdir(mem, 0o700)
	if code, _, errOut := cli(t, nil, "check", "--data-dir", mem); code != 1 || !strings.Contains(errOut, "no lsm database") {
		t.Fatalf("check of a folder without a database: exit %d\n%s", code, errOut)
	}
	for _, args := range [][]string{{"check"}, {"check", "--data-dir", data, "--format", "xml"}, {"check", "--data-dir", data, "extra"}} {
		if code, _, errOut := cli(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message", args, code)
		}
	}
}

// TestOneServerPerFolderAndFile starts a second server on what a first one
// owns: the data folder (each engine), the log folder, the pid file, the
// log file and the audit file. Each is refused, naming the file and the
// first server's process, and leaves the first one's files alone.
func TestOneServerPerFolderAndFile(t *testing.T) {
	refused := func(t *testing.T, first *daemon, what string, args ...string) {
		t.Helper()
		d, code, out := tryStart(t, args...)
		if d != nil {
			t.Fatalf("a second server started beside the first on the same %s", what)
		}
		pid := strconv.Itoa(first.cmd.Process.Pid)
		if code != 1 || !strings.Contains(out, what) || !strings.Contains(out, "process "+pid) {
			t.Fatalf("second server: exit %d, want 1 naming %q and process %s:\n%s", code, what, pid, out)
		}
	}
	for _, engine := range []string{"memory", "lsm"} {
		t.Run("data-dir-"+engine, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			first := startDaemon(t, "--engine", engine, "--data-dir", data)
			refused(t, first, data, "--engine", engine, "--data-dir", data)
			refused(t, first, data, "--engine", "lsm", "--data-dir", data)
			putKeys(t, first, 0, 10) // the first one still serves
		})
	}
	t.Run("wal-dir", func(t *testing.T) {
		wal, a := filepath.Join(t.TempDir(), "wal"), filepath.Join(t.TempDir(), "a")
		first := startDaemon(t, "--engine", "lsm", "--data-dir", a, "--wal-dir", wal)
		putKeys(t, first, 0, 100)
		refused(t, first, wal, "--engine", "lsm", "--data-dir", filepath.Join(t.TempDir(), "b"), "--wal-dir", wal)
		// After a crash of the first, every acknowledged write is there.
		stopDaemon(t, first, true)
		d, _, out := tryStart(t, "--engine", "lsm", "--data-dir", a, "--wal-dir", wal)
		if d == nil {
			t.Fatalf("restart of the first server refused:\n%s", out)
		}
		if ok, _ := readKeys(t, d, 100); ok != 100 {
			t.Fatalf("%d of 100 keys after the restart", ok)
		}
		// Stopped, its log folder is still its own: a new database (as
		// a restore started with the wrong wal_dir) is refused.
		stopDaemon(t, d, true)
		b := filepath.Join(t.TempDir(), "b")
		if d, code, out := tryStart(t, "--engine", "lsm", "--data-dir", b, "--wal-dir", wal); d != nil || code != 1 ||
			!strings.Contains(out, "storage.wal_dir "+wal+" is not this database's log folder") || !strings.Contains(out, "IDENTITY") {
			t.Fatalf("a new database on another's log folder: exit %d\n%s", code, out)
		}
		d, _, out = tryStart(t, "--engine", "lsm", "--data-dir", a, "--wal-dir", wal)
		if d == nil {
			t.Fatalf("restart of the first server refused:\n%s", out)
		}
		if ok, _ := readKeys(t, d, 100); ok != 100 {
			t.Fatalf("%d of 100 keys after the second restart", ok)
		}
	})
	t.Run("pid-file", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "amaters.pid")
		cfg := writeConfig(t, fmt.Sprintf("[server]\npid_file = %q\n", pidFile))
		first := startDaemon(t, "--config", cfg)
		pid := strconv.Itoa(first.cmd.Process.Pid)
		refused(t, first, pidFile, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "b"))
		if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != pid {
			t.Fatalf("pid file after the refused second server: %q, want %s", b, pid)
		}
		stopDaemon(t, first, false)
		if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
			t.Fatalf("pid file left after a clean stop: %v", err)
		}
		// A pid file a crash left (no lock) is taken over.
		os.WriteFile(pidFile, []byte("999999\n"), 0o644)
		second := startDaemon(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "c"))
		if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(second.cmd.Process.Pid) {
			t.Fatalf("stale pid file not taken over: %q", b)
		}
	})
	t.Run("stop-then-start", func(t *testing.T) {
		// Once stop returns, the folder, the pid file and the audit log
		// are free: a new server takes them at once.
		data := filepath.Join(t.TempDir(), "data")
		cfg := writeConfig(t, fmt.Sprintf("[server]\npid_file = %q\n", filepath.Join(t.TempDir(), "amaters.pid")))
		for range 3 {
			d := startDaemon(t, "--config", cfg, "--engine", "lsm", "--data-dir", data)
			if code, out, errOut := cli(t, nil, "stop", "--addr", d.api); code != 0 {
				t.Fatalf("stop: exit %d %s%s", code, out, errOut)
			}
			if code, out, errOut := cli(t, nil, "check", "--data-dir", data); code != 0 {
				t.Fatalf("check right after stop: exit %d %s%s", code, out, errOut)
			}
		}
	})
	for _, key := range []string{"logging.file", "audit.file"} {
		t.Run(key, func(t *testing.T) {
			section, name, _ := strings.Cut(key, ".")
			file := filepath.Join(t.TempDir(), "server.log")
			cfg := writeConfig(t, fmt.Sprintf("[%s]\n%s = %q\n", section, name, file))
			first := startDaemon(t, "--config", cfg)
			refused(t, first, file, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "b"))
			if key == "logging.file" {
				b, _ := os.ReadFile(file)
				if bytes.Contains(b, []byte("in use")) || !bytes.Contains(b, []byte("serving")) {
					t.Fatalf("log file after the refused second server:\n%s", b)
				}
			}
		})
	}
}

// TestDamageFoundWhileRunning damages a table under a running server's
// scrubber: /health turns 503 naming the file, and the corruption counter
// counts it.
func TestDamageFoundWhileRunning(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, "--engine", "lsm", "--data-dir", data)
	putKeys(t, d, 0, 300)
	stopDaemon(t, d, false)
	d = startDaemon(t, "--engine", "lsm", "--data-dir", data,
		"--config", writeConfig(t, "[storage]\nscrub_interval_ms = 50\n"))
	health := func() (int, string) {
		resp, err := http.Get(d.health + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != 200 || !strings.Contains(body, `"lost_found_files":0`) {
		t.Fatalf("health before the damage: %d %s", code, body)
	}
	table := glob1(t, filepath.Join(data, "db", "*.sst"))[0]
	f, err := os.OpenFile(table, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	b := make([]byte, 1)
	f.ReadAt(b, st.Size()/3)
	b[0] ^= 1
	f.WriteAt(b, st.Size()/3)
	f.Close()
	var body string
	waitFor(t, "/health to report the damage", func() bool {
		var code int
		code, body = health()
		return code == 503
	})
	if !strings.Contains(body, "damaged") || !strings.Contains(body, filepath.Base(table)) || !strings.Contains(body, "amaters-server check") {
		t.Fatalf("health after the damage: %s", body)
	}
	resp, err := http.Get(d.health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(m, []byte("\namaters_lsm_corruptions_total 0\n")) || !bytes.Contains(m, []byte("\namaters_lsm_corruptions_total ")) {
		t.Fatalf("corruption counter:\n%s", m)
	}
}

// TestLostFound plants a table the manifest does not list: the server
// starts, moves it to lost+found rather than delete it, says so in
// /health, and check notes it.
func TestLostFound(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, "--engine", "lsm", "--data-dir", data)
	putKeys(t, d, 0, 100)
	stopDaemon(t, d, false)
	table := glob1(t, filepath.Join(data, "db", "*.sst"))[0]
	b, _ := os.ReadFile(table)
	// Numbered as the manifest is: a number no table ever had, so not
	// provably obsolete (as a table numbered past the manifest's next
	// file number would be, which Open deletes).
	manifest := glob1(t, filepath.Join(data, "db", "MANIFEST-*"))[0]
	name := strings.TrimPrefix(filepath.Base(manifest), "MANIFEST-") + ".sst"
	os.WriteFile(filepath.Join(data, "db", name), b, 0o600)
	if code, out, errOut := cli(t, nil, "check", "--data-dir", data); code != 0 || !strings.Contains(out, name) {
		t.Fatalf("check with an orphan table: exit %d, want 0 with a note naming it\n%s%s", code, out, errOut)
	}
	d = startDaemon(t, "--engine", "lsm", "--data-dir", data)
	if ok, _ := readKeys(t, d, 100); ok != 100 {
		t.Fatalf("%d of 100 keys", ok)
	}
	if _, err := os.Stat(filepath.Join(data, "db", "lost+found", name)); err != nil {
		t.Fatalf("orphan not in lost+found: %v", err)
	}
	resp, err := http.Get(d.health + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"lost_found_files":1`) {
		t.Fatalf("health with one file in lost+found: %d %s", resp.StatusCode, body)
	}
}

// TestCheckGoldenFolders: check finds every golden format folder of
// package lsm, and a restored golden backup, clean.
func TestCheckGoldenFolders(t *testing.T) {
	for _, name := range []string{"format-v1", "format-v1-mapped", "format-v2", "format-v2-mapped"} {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			db := filepath.Join(data, "db")
			if err := os.CopyFS(db, os.DirFS(filepath.Join("lsm", "testdata", name))); err != nil {
				t.Fatal(err)
			}
			// These folders keep their logs beside the tables.
			if code, out, errOut := cli(t, nil, "check", "--data-dir", data, "--wal-dir", db); code != 0 || !strings.Contains(out, "clean") {
				t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
	t.Run("backup", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "restored")
		if code, out, errOut := cli(t, nil, "restore", "--from", filepath.Join("server", "testdata", "backup-v1.tar"), "--data-dir", data); code != 0 {
			t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := cli(t, nil, "check", "--data-dir", data); code != 0 || !strings.Contains(out, "clean") {
			t.Fatalf("check of a restored backup: exit %d\n%s%s", code, out, errOut)
		}
	})
}
