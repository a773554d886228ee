package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/blake3"
	"amaters-server/server"
	"amaters-server/server/backup"
	"amaters-server/server/client"
	"amaters-server/server/config"
)

// getBackup fetches GET /v1/admin/backup whole.
func getBackup(t *testing.T, ts *testServer, hdr ...string) result {
	t.Helper()
	return do(t, "GET", ts.api+"/v1/admin/backup", nil, hdr...)
}

// TestBackupArchive: the archive an admin gets has the documented layout,
// verifies, and restores into a folder a server opens with every key.
func TestBackupArchive(t *testing.T) {
	ts := startServer(t, nil)
	want := map[string]string{}
	for i := range 300 {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", i))
		do(t, "PUT", keyURL(ts, "c", []byte(k)), []byte(v))
		want[k] = v
	}
	do(t, "DELETE", keyURL(ts, "c", []byte("k007")), nil)
	delete(want, "k007")

	// A client that accepts gzip still gets the tar as it is.
	r := getBackup(t, ts, "Accept-Encoding", "gzip")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-tar" {
		t.Errorf("Content-Type %q", ct)
	}
	if ce := r.header.Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q", ce)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="amaters-backup-`) || !strings.HasSuffix(cd, `Z.tar"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length %s for %d bytes", cl, len(r.body))
	}
	info, err := backup.Verify(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != 1 || info.ServerVersion != server.Version || info.Engine != "memory" || info.LastSequence < 301 || info.Files < 3 {
		t.Errorf("FORMAT %+v", info)
	}
	if age := time.Since(info.Created); age < -time.Second || age > time.Minute {
		t.Errorf("created %v", info.Created)
	}

	// The layout, read with archive/tar and checked with blake3.Sum256.
	tr := tar.NewReader(bytes.NewReader(r.body))
	var names []string
	sums := map[string]string{}
	var sumsText string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || hdr.Format != tar.FormatUSTAR || !hdr.ModTime.Equal(info.Created) {
			t.Errorf("%s: type %c mode %o format %v mtime %v", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Format, hdr.ModTime)
		}
		names = append(names, hdr.Name)
		if hdr.Name == "amaters-backup/BLAKE3SUMS" {
			sumsText = string(body)
			continue
		}
		sum := blake3.Sum256(body)
		sums[strings.TrimPrefix(hdr.Name, "amaters-backup/")] = hex.EncodeToString(sum[:])
	}
	n := len(names)
	if names[0] != "amaters-backup/FORMAT" || names[n-1] != "amaters-backup/BLAKE3SUMS" ||
		names[n-2] != "amaters-backup/db/CURRENT" || !strings.HasPrefix(names[n-3], "amaters-backup/db/MANIFEST-") ||
		!strings.HasSuffix(names[1], ".sst") || n != info.Files+2 {
		t.Errorf("entries %v", names)
	}
	lines := strings.Split(strings.TrimSuffix(sumsText, "\n"), "\n")
	if len(lines) != n-1 {
		t.Fatalf("BLAKE3SUMS has %d lines for %d entries:\n%s", len(lines), n-1, sumsText)
	}
	for i, line := range lines {
		path := strings.TrimPrefix(names[i], "amaters-backup/")
		if line != sums[path]+"  "+path {
			t.Errorf("BLAKE3SUMS line %q, want the b3sum line of %s", line, path)
		}
	}

	// HEAD answers the headers only, and takes no checkpoint.
	if h := do(t, "HEAD", ts.api+"/v1/admin/backup", nil); h.status != 200 || h.header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("HEAD: %d %v", h.status, h.header)
	}

	// Restored, a server on the folder has every key.
	file := filepath.Join(t.TempDir(), "b.tar")
	os.WriteFile(file, r.body, 0o600)
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), file, dir, nil); err != nil {
		t.Fatal(err)
	}
	rs := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm"; c.Server.DataDir = dir })
	got := map[string]string{}
	for _, it := range rangeAll(t, rs, "c", "", 1000) {
		got[string(it.Key)] = string(it.Value)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored %d keys, want %d", len(got), len(want))
	}
}

func TestBackupNeedsAdmin(t *testing.T) {
	ts, dir := authServer(t, nil)
	wantError(t, getBackup(t, ts), 401, "unauthenticated")
	wantError(t, getBackup(t, ts, bearer(token(t, "rita", []string{"reader"}, []string{"*"}))...), 403, "permission_denied")
	wantError(t, getBackup(t, ts, bearer(token(t, "uma", []string{"user"}, []string{"*"}))...), 403, "permission_denied")
	r := getBackup(t, ts, bearer(token(t, "bob", []string{"admin"}, nil))...)
	if r.status != 200 {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	if _, err := backup.Verify(bytes.NewReader(r.body)); err != nil {
		t.Fatal(err)
	}
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	if !strings.Contains(audit, `"identity":"bob"`) || !strings.Contains(audit, `"reason":"backup"`) {
		t.Errorf("backup not audited:\n%s", audit)
	}
}

// TestBackupUnderWrites takes backups while writers run and checks each
// restored copy against a model: every write acknowledged before the
// backup began is there, or a newer one; values are ones that were written;
// the two keys of each batch always agree.
func TestBackupUnderWrites(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Middleware.RateLimitRPS = 0
		c.Storage.MemtableSizeMB = 1
	})
	const writers, keysPerWriter = 4, 20
	type model struct {
		mu    sync.Mutex
		more  *sync.Cond     // signalled at every acknowledgement
		acked map[string]int // key → highest acknowledged version
		n     int            // acknowledgements so far
		live  int            // writers still running
	}
	m := &model{acked: map[string]int{}, live: writers}
	m.more = sync.NewCond(&m.mu)
	// snapshot waits for at least n acknowledgements and copies the model.
	snapshot := func(n int) (map[string]int, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for m.n < n && m.live > 0 {
			m.more.Wait()
		}
		out := make(map[string]int, len(m.acked))
		for k, v := range m.acked {
			out[k] = v
		}
		return out, m.n
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			defer func() {
				m.mu.Lock()
				m.live--
				m.more.Broadcast()
				m.mu.Unlock()
			}()
			client := &http.Client{}
			for n := 1; ctx.Err() == nil; n++ {
				var req *http.Request
				var keys []string
				if n%5 == 0 {
					keys = []string{fmt.Sprintf("b%d-x", w), fmt.Sprintf("b%d-y", w)}
					ops := []map[string]string{}
					for _, k := range keys {
						ops = append(ops, map[string]string{"op": "set", "collection": "m", "key": b64(k), "value": b64(strconv.Itoa(n))})
					}
					body, _ := json.Marshal(map[string]any{"ops": ops})
					req, _ = http.NewRequestWithContext(ctx, "POST", ts.api+"/v1/batch", bytes.NewReader(body))
				} else {
					keys = []string{fmt.Sprintf("w%d-%02d", w, n%keysPerWriter)}
					req, _ = http.NewRequestWithContext(ctx, "PUT", keyURL(ts, "m", []byte(keys[0])), strings.NewReader(strconv.Itoa(n)))
				}
				resp, err := client.Do(req)
				if err != nil {
					return // cancelled
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Errorf("write: %d", resp.StatusCode)
					return
				}
				m.mu.Lock()
				for _, k := range keys {
					m.acked[k] = n
				}
				m.n++
				m.more.Broadcast()
				m.mu.Unlock()
			}
		})
	}
	c, err := client.New(strings.TrimPrefix(ts.api, "http://"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acks := 0
	for round := range 3 {
		// Each round starts after some more writes were acknowledged.
		before, n := snapshot(acks + 50)
		acks = n
		file := filepath.Join(t.TempDir(), "b.tar")
		if _, _, err := c.Backup(t.Context(), file, nil); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		dir := filepath.Join(t.TempDir(), "data")
		if _, err := backup.Restore(t.Context(), file, dir, nil); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		after, _ := snapshot(0)
		rs := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm"; c.Server.DataDir = dir })
		got := map[string]int{}
		for _, it := range rangeAll(t, rs, "m", "", 1000) {
			v, err := strconv.Atoi(string(it.Value))
			if err != nil {
				t.Fatalf("round %d: %s holds %q", round, it.Key, it.Value)
			}
			got[string(it.Key)] = v
		}
		for k, v := range before {
			if got[k] < v {
				t.Errorf("round %d: %s = %d in the backup, but %d was acknowledged before it began", round, k, got[k], v)
			}
		}
		for k, v := range got {
			// Not beyond what was sent by the end; a write sent but not
			// yet acknowledged is one version further.
			if v > after[k]+keysPerWriter*5 {
				t.Errorf("round %d: %s = %d, never written", round, k, v)
			}
		}
		for w := range writers {
			if x, y := got[fmt.Sprintf("b%d-x", w)], got[fmt.Sprintf("b%d-y", w)]; x != y {
				t.Errorf("round %d: batch torn: x=%d y=%d", round, x, y)
			}
		}
		t.Logf("round %d: %d keys acknowledged before, %d in the backup", round, len(before), len(got))
	}
	cancel()
	wg.Wait()
}

// TestVerifyBackupRefusesEveryTruncation cuts a real backup at every byte
// before the end of its BLAKE3SUMS: the HTTP status is out before the body,
// so a short body is the only sign of a failed backup.
func TestVerifyBackupRefusesEveryTruncation(t *testing.T) {
	ts := startServer(t, nil)
	for i := range 20 {
		do(t, "PUT", keyURL(ts, "c", []byte(strconv.Itoa(i))), []byte(strings.Repeat("v", i*10)))
	}
	r := getBackup(t, ts)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// The sums' data ends at most 1024+511 bytes before the archive does.
	for cut := 0; cut <= len(r.body)-1536; cut++ {
		if _, err := backup.Verify(bytes.NewReader(r.body[:cut])); !errors.Is(err, backup.ErrInvalid) {
			t.Fatalf("cut at %d of %d: %v", cut, len(r.body), err)
		}
	}
}
