package main

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBackupAndRestoreUnderWrites is the round trip of an online backup:
// load, back up with the backup command while writers run, restore into a
// new folder, start a server on it, and compare with a model of what was
// acknowledged before the backup began.
func TestBackupAndRestoreUnderWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20k keys and starts three servers")
	}
	dir := t.TempDir()
	cfg := writeConfig(t, "[storage]\nmemtable_size_mb = 1\n[middleware]\nrate_limit_rps = 0\n")
	d := startDaemon(t, "--config", cfg, "--engine", "lsm", "--data-dir", filepath.Join(dir, "data"))

	// The load: 20 batches of 1000 keys, a few tables' worth.
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(ops []string) int {
		resp, err := client.Post("http://"+d.api+"/v1/batch", "application/json", strings.NewReader(`{"ops":[`+strings.Join(ops, ",")+`]}`))
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	setOp := func(key, value string) string {
		return fmt.Sprintf(`{"op":"set","collection":"load","key":%q,"value":%q}`,
			base64.StdEncoding.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString([]byte(value)))
	}
	for b := range 20 {
		var ops []string
		for i := b * 1000; i < (b+1)*1000; i++ {
			ops = append(ops, setOp(fmt.Sprintf("key-%05d", i), "0"+strings.Repeat(" ", 100)))
		}
		if code := post(ops); code != 200 {
			t.Fatalf("load batch %d: %d", b, code)
		}
	}

	// Writers overwrite keys with rising versions; every fifth write is a
	// batch setting two keys to the same version.
	var mu sync.Mutex
	acked := map[string]int{} // key → highest acknowledged version
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var keys []string
				if n%5 == 0 {
					keys = []string{fmt.Sprintf("b%d-x", w), fmt.Sprintf("b%d-y", w)}
				} else {
					keys = []string{fmt.Sprintf("key-%05d", (w*7919+n*31)%20000)}
				}
				var ops []string
				for _, k := range keys {
					ops = append(ops, setOp(k, strconv.Itoa(n)))
				}
				if post(ops) != 200 {
					t.Errorf("writer %d: write %d failed", w, n)
					return
				}
				mu.Lock()
				for _, k := range keys {
					acked[k] = max(acked[k], n)
				}
				mu.Unlock()
			}
		})
	}
	waitFor(t, "writes to be acknowledged", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 100 })
	mu.Lock()
	before := make(map[string]int, len(acked))
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()
	backup := filepath.Join(dir, "backup.tar")
	code, out, errOut := cli(t, nil, "backup", "--addr", d.api, "--out", backup)
	if code != 0 || !strings.Contains(out, "saved to "+backup) || errOut != "" {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, "writes after the backup", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > len(before)+100 })
	close(stop)
	wg.Wait()
	if _, err := os.Stat(backup + ".partial"); !os.IsNotExist(err) {
		t.Errorf("the .partial file is still there: %v", err)
	}
	// Backups never overwrite.
	if code, _, errOut := cli(t, nil, "backup", "--addr", d.api, "--out", backup); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("second backup to the same file: exit %d %q", code, errOut)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	restored := filepath.Join(dir, "restored")
	code, out, errOut = cli(t, nil, "restore", "--from", backup, "--data-dir", restored)
	if code != 0 || !strings.Contains(out, "server.data_dir = ") || errOut != "" {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	r := startDaemon(t, "--config", cfg, "--engine", "lsm", "--data-dir", restored)
	got := map[string]int{}
	for k, v := range scanCollection(t, r, "load") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			t.Fatalf("%s holds %q", k, v)
		}
		got[k] = n
	}
	for i := range 20000 {
		if _, ok := got[fmt.Sprintf("key-%05d", i)]; !ok {
			t.Fatalf("loaded key key-%05d is missing", i)
		}
	}
	for k, v := range before {
		if got[k] < v {
			t.Errorf("%s = %d in the backup, but %d was acknowledged before it began", k, got[k], v)
		}
	}
	for w := range 4 {
		if x, y := got[fmt.Sprintf("b%d-x", w)], got[fmt.Sprintf("b%d-y", w)]; x != y {
			t.Errorf("batch torn: b%d-x = %d, b%d-y = %d", w, x, w, y)
		}
	}
	t.Logf("%d keys acknowledged before the backup began, all in the restored copy", len(before))

	// Restoring again into the now non-empty folder writes nothing.
	entries := func(dir string) string {
		des, _ := os.ReadDir(dir)
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return strings.Join(names, " ")
	}
	notEmpty := filepath.Join(dir, "occupied")
	os.Mkdir(notEmpty, 0o700)
	os.WriteFile(filepath.Join(notEmpty, "notes.txt"), []byte("mine"), 0o600)
	if code, _, errOut := cli(t, nil, "restore", "--from", backup, "--data-dir", notEmpty); code != 1 || !strings.Contains(errOut, "not an empty folder") {
		t.Errorf("restore into a non-empty folder: exit %d %q", code, errOut)
	}
	if got := entries(notEmpty); got != "notes.txt" {
		t.Errorf("the non-empty folder now holds %s", got)
	}

	// A flipped byte inside a table: restore names the file and leaves
	// nothing behind.
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	table, off := firstTable(t, data)
	data[off] ^= 0x40
	damaged := filepath.Join(dir, "damaged.tar")
	os.WriteFile(damaged, data, 0o600)
	target := filepath.Join(dir, "from-damaged")
	code, _, errOut = cli(t, nil, "restore", "--from", damaged, "--data-dir", target)
	if code != 1 || !strings.Contains(errOut, "db/"+table) || !strings.Contains(errOut, "checksum") {
		t.Errorf("restore of a damaged backup: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("a failed restore left %s: %v", target, err)
	}
}

// firstTable returns the name of the archive's first table and the offset
// of a byte in the middle of its contents.
func firstTable(t *testing.T, archive []byte) (string, int) {
	t.Helper()
	cr := &countReader{r: strings.NewReader(string(archive))}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no table in the backup: %v", err)
		}
		// archive/tar reads whole blocks and no further: the count is
		// where this entry's contents start.
		if strings.HasSuffix(hdr.Name, ".sst") && hdr.Size > 0 {
			return strings.TrimPrefix(hdr.Name, "amaters-backup/db/"), int(cr.n + hdr.Size/2)
		}
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestBackupChecksWithB3sum: an extracted backup verifies with the b3sum
// tool, as the README says.
func TestBackupChecksWithB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("b3sum is not installed (CI has it)")
		}
		t.Fatal("b3sum is not installed")
	}
	d := startDaemon(t)
	for i := range 50 {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/collections/c/keys/k%d", d.api, i), strings.NewReader(strings.Repeat("v", i)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "b.tar")
	if code, out, errOut := cli(t, nil, "backup", "--addr", d.api, "--out", backup); code != 0 {
		t.Fatalf("backup: exit %d %s%s", code, out, errOut)
	}
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		body, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(b3sum, "--check", "BLAKE3SUMS")
	cmd.Dir = filepath.Join(dir, "amaters-backup")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "db/CURRENT: OK") || !strings.Contains(string(out), "FORMAT: OK") {
		t.Fatalf("b3sum --check: %v\n%s", err, out)
	}
	var info struct {
		Format int    `json:"format"`
		Engine string `json:"engine"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "amaters-backup", "FORMAT"))
	if err := json.Unmarshal(data, &info); err != nil || info.Format != 1 || info.Engine != "memory" {
		t.Errorf("FORMAT %s: %v", data, err)
	}
}

func TestBackupCommandLine(t *testing.T) {
	for _, args := range [][]string{{"backup", "-h"}, {"restore", "-h"}} {
		if code, out, _ := cli(t, nil, args...); code != 0 || !strings.Contains(out, "Usage: amaters-server "+args[0]) {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"backup"}, {"backup", "--out", "x", "--timeout", "0s"}, {"restore"}, {"restore", "--from", "x"}, {"restore", "--from", "x", "--data-dir", "y", "z"}} {
		if code, _, errOut := cli(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message", args, code)
		}
	}
	dir := t.TempDir()
	// Nothing listens there: exit 1, and no file is left.
	out := filepath.Join(dir, "b.tar")
	if code, _, errOut := cli(t, nil, "backup", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--out", out); code != 1 || errOut == "" {
		t.Errorf("backup of nothing: exit %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, nil, "restore", "--from", filepath.Join(dir, "none.tar"), "--data-dir", filepath.Join(dir, "data")); code != 1 || !strings.Contains(errOut, "none.tar") {
		t.Errorf("restore of a missing file: exit %d %q", code, errOut)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("failed commands left %d files", len(des))
	}
}
