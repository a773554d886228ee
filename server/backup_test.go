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
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/blake3"
	"amaters-server/server"
	"amaters-server/server/config"
)

// getBackup fetches GET /v1/admin/backup whole.
func getBackup(t *testing.T, ts *testServer, hdr ...string) result {
	t.Helper()
	return do(t, "GET", ts.api+"/v1/admin/backup", nil, hdr...)
}

// tarEntry is one entry of an archive built by a test, independently of
// the server's writer.
type tarEntry struct {
	name   string
	body   []byte
	typ    byte       // 0 means a regular file
	format tar.Format // 0 means the writer's choice (USTAR here)
}

func buildTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Format: e.format}
		if e.format == tar.FormatPAX {
			hdr.PAXRecords = map[string]string{"comment": "an extended header"}
		}
		switch typ {
		case tar.TypeReg:
			hdr.Size = int64(len(e.body))
		case tar.TypeSymlink, tar.TypeLink:
			hdr.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write(e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// archiveEntries builds the entries of a valid backup of the given
// database files (name, content, name, content...): FORMAT first, then the
// files, then BLAKE3SUMS over all of them.
func archiveEntries(files ...string) []tarEntry {
	var total int64
	for i := 1; i < len(files); i += 2 {
		total += int64(len(files[i]))
	}
	format := fmt.Sprintf(`{"format":1,"server_version":"0.2.0","created":"2026-01-02T03:04:05Z","engine":"lsm","last_sequence":7,"files":%d,"bytes":%d}`+"\n", len(files)/2, total)
	entries := []tarEntry{{name: "amaters-backup/FORMAT", body: []byte(format)}}
	for i := 0; i+1 < len(files); i += 2 {
		entries = append(entries, tarEntry{name: "amaters-backup/db/" + files[i], body: []byte(files[i+1])})
	}
	return append(entries, sumsEntry(entries))
}

func sumsEntry(entries []tarEntry) tarEntry {
	var sums strings.Builder
	for _, e := range entries {
		sum := blake3.Sum256(e.body)
		fmt.Fprintf(&sums, "%x  %s\n", sum, strings.TrimPrefix(e.name, "amaters-backup/"))
	}
	return tarEntry{name: "amaters-backup/BLAKE3SUMS", body: []byte(sums.String())}
}

var sampleFiles = []string{"000004.sst", strings.Repeat("table bytes ", 100), "MANIFEST-000005", "manifest", "CURRENT", "MANIFEST-000005\n"}

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
	info, err := server.VerifyBackup(bytes.NewReader(r.body))
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
	if _, err := server.Restore(t.Context(), file, dir, nil); err != nil {
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
	if _, err := server.VerifyBackup(bytes.NewReader(r.body)); err != nil {
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
	c, err := server.NewClient(strings.TrimPrefix(ts.api, "http://"), server.ClientOptions{})
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
		if _, err := server.Restore(t.Context(), file, dir, nil); err != nil {
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

func TestVerifyBackupRefuses(t *testing.T) {
	valid := archiveEntries(sampleFiles...)
	replace := func(i int, e tarEntry) []tarEntry {
		out := append([]tarEntry(nil), valid...)
		out[i] = e
		return out
	}
	withSums := func(entries []tarEntry) []tarEntry { return append(entries, sumsEntry(entries)) }
	body := func(e []tarEntry) []byte { return buildTar(t, e) }
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string // in the message
	}{
		{"empty", nil, "truncated"},
		{"not a tar", []byte(strings.Repeat("hello ", 200)), "after 0 entries"},
		{"no sums", body(valid[:len(valid)-1]), "truncated"},
		{"format not first", body(withSums(append(valid[1:len(valid)-1:len(valid)-1], valid[0]))), "db/000004.sst is the first entry"},
		{"flipped table byte", body(replace(1, tarEntry{name: valid[1].name, body: bytes.Replace(valid[1].body, []byte("table"), []byte("tablf"), 1)})), "db/000004.sst does not match"},
		{"sums uppercase", body(replace(4, tarEntry{name: valid[4].name, body: bytes.ToUpper(valid[4].body)})), "line 1"},
		{"sums line missing", body(replace(4, tarEntry{name: valid[4].name, body: valid[4].body[:bytes.IndexByte(valid[4].body, '\n')+1]})), "db/000004.sst is in the archive but not listed"},
		{"sums extra line", body(replace(4, tarEntry{name: valid[4].name, body: append(bytes.Clone(valid[4].body), []byte(strings.Repeat("0", 64)+"  db/extra\n")...)})), "db/extra is listed"},
		{"sums wrong order", body(replace(4, tarEntry{name: valid[4].name, body: []byte(strings.Join(reorder(strings.SplitAfter(string(valid[4].body), "\n")), ""))})), "BLAKE3SUMS line 1 names"},
		{"sums no final newline", body(replace(4, tarEntry{name: valid[4].name, body: bytes.TrimSuffix(valid[4].body, []byte("\n"))})), "line 4"},
		{"entry after sums", body(append(valid[:len(valid):len(valid)], tarEntry{name: "amaters-backup/db/late", body: []byte("x")})), "db/late follows BLAKE3SUMS"},
		{"data after the end", append(body(valid), "garbage"...), "data follows the end"},
		{"format version 2", body(withSums([]tarEntry{{name: "amaters-backup/FORMAT", body: []byte(`{"format":2,"files":2}`)}})), "format version 2"},
		{"format not JSON", body(withSums([]tarEntry{{name: "amaters-backup/FORMAT", body: []byte(`{"format":1`)}})), "FORMAT is not valid JSON"},
		{"format miscounts", body(withSums(append([]tarEntry{{name: "amaters-backup/FORMAT", body: []byte(`{"format":1,"files":4,"bytes":5000}`)}}, valid[1:4]...))), "FORMAT announces 4 files of 5000 bytes; the archive holds 3"},
		{"more files than announced", body(withSums(append([]tarEntry{{name: "amaters-backup/FORMAT", body: []byte(`{"format":1,"files":2,"bytes":5000}`)}}, valid[1:4]...))), "is beyond the 2 files"},
		{"duplicate", body(withSums(append(valid[:4:4], valid[3]))), "db/CURRENT appears twice"},
		{"outside the root", body(withSums(append(valid[:4:4], tarEntry{name: "etc/passwd", body: []byte("x")}))), "is outside amaters-backup/"},
		{"absolute", body(withSums(append(valid[:4:4], tarEntry{name: "/amaters-backup/db/x", body: []byte("x")}))), "is outside"},
		{"traversal", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/../../x", body: []byte("x")}))), "not a database file name"},
		{"subfolder", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/a/b", body: []byte("x")}))), "not a database file name"},
		{"hidden", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/.x", body: []byte("x")}))), "not a database file name"},
		{"unknown entry", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/README", body: []byte("x")}))), "README is not part of a backup"},
		{"symlink", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/x", typ: tar.TypeSymlink}))), "db/x is not a regular file"},
		{"hard link", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/x", typ: tar.TypeLink}))), "not a regular file"},
		{"pax header", body(replace(1, tarEntry{name: valid[1].name, body: valid[1].body, format: tar.FormatPAX})), "db/000004.sst has a PAX header"},
		{"gnu header", body(replace(2, tarEntry{name: valid[2].name, body: valid[2].body, format: tar.FormatGNU})), "db/MANIFEST-000005 has a GNU header"},
		{"folder", body(withSums(append(valid[:4:4], tarEntry{name: "amaters-backup/db/", typ: tar.TypeDir}))), "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.VerifyBackup(bytes.NewReader(tc.archive))
			if !errors.Is(err, server.ErrBackupInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBackupInvalid saying %q", err, tc.want)
			}
		})
	}
	if _, err := server.VerifyBackup(bytes.NewReader(body(valid))); err != nil {
		t.Fatalf("the valid archive: %v", err)
	}
	// Zero padding after the end (a tar blocking factor) is fine.
	if _, err := server.VerifyBackup(bytes.NewReader(append(body(valid), make([]byte, 9000)...))); err != nil {
		t.Fatalf("padded: %v", err)
	}
}

func reorder(lines []string) []string {
	lines[0], lines[1] = lines[1], lines[0]
	return lines
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
		if _, err := server.VerifyBackup(bytes.NewReader(r.body[:cut])); !errors.Is(err, server.ErrBackupInvalid) {
			t.Fatalf("cut at %d of %d: %v", cut, len(r.body), err)
		}
	}
}

func TestRestoreRefusesAndCleansUp(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.tar")
	os.WriteFile(good, buildTar(t, archiveEntries(sampleFiles...)), 0o600)
	damaged := archiveEntries(sampleFiles...)
	damaged[2].body = []byte("manifesT")
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, buildTar(t, damaged), 0o600)
	escape := filepath.Join(t.TempDir(), "escape.tar")
	os.WriteFile(escape, buildTar(t, archiveEntries("CURRENT", "x", "../../escaped", "y")), 0o600)

	t.Run("non-empty folder", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o600)
		_, err := server.Restore(t.Context(), good, dir, nil)
		if !errors.Is(err, server.ErrRestoreNotEmpty) {
			t.Fatalf("got %v", err)
		}
		if names := dirNames(t, dir); fmt.Sprint(names) != "[keep]" {
			t.Fatalf("folder now holds %v", names)
		}
	})
	t.Run("a file", func(t *testing.T) {
		if _, err := server.Restore(t.Context(), good, good, nil); !errors.Is(err, server.ErrRestoreNotEmpty) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("damaged into a new folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		_, err := server.Restore(t.Context(), bad, dir, nil)
		if !errors.Is(err, server.ErrBackupInvalid) || !strings.Contains(err.Error(), "db/MANIFEST-000005") {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the new folder was left behind: %v", err)
		}
	})
	t.Run("damaged into an empty folder", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := server.Restore(t.Context(), bad, dir, nil); !errors.Is(err, server.ErrBackupInvalid) {
			t.Fatalf("got %v", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
	t.Run("path traversal", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "data")
		if _, err := server.Restore(t.Context(), escape, dir, nil); !errors.Is(err, server.ErrBackupInvalid) {
			t.Fatalf("got %v", err)
		}
		if names := dirNames(t, filepath.Join(parent, "a")); len(names) != 0 {
			t.Fatalf("wrote %v", names)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		dir := filepath.Join(t.TempDir(), "new")
		if _, err := server.Restore(ctx, good, dir, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the new folder was left behind: %v", err)
		}
	})
	t.Run("good", func(t *testing.T) {
		dir := t.TempDir()
		var last server.BackupProgress
		info, err := server.Restore(t.Context(), good, dir, func(p server.BackupProgress) { last = p })
		if err != nil {
			t.Fatal(err)
		}
		if info.Files != 3 || info.LastSequence != 7 {
			t.Errorf("%+v", info)
		}
		if st, _ := os.Stat(good); last.Done != st.Size() || last.Total != st.Size() {
			t.Errorf("last progress %+v for %d bytes", last, st.Size())
		}
		if names := dirNames(t, dir); fmt.Sprint(names) != "[db]" {
			t.Fatalf("folder holds %v", names)
		}
		if names := dirNames(t, filepath.Join(dir, "db")); fmt.Sprint(names) != "[000004.sst CURRENT MANIFEST-000005]" {
			t.Fatalf("db holds %v", names)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "db", "CURRENT"))
		if string(data) != "MANIFEST-000005\n" {
			t.Fatalf("CURRENT = %q", data)
		}
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestClientBackup: the saved file appears only once complete and
// verified, an existing file is never replaced, and a refusal leaves
// nothing behind.
func TestClientBackup(t *testing.T) {
	ts, _ := authServer(t, nil)
	addr := strings.TrimPrefix(ts.api, "http://")
	admin, _ := server.NewClient(addr, server.ClientOptions{Token: token(t, "bob", []string{"admin"}, nil)})
	reader, _ := server.NewClient(addr, server.ClientOptions{Token: token(t, "rita", []string{"reader"}, []string{"*"})})
	dir := t.TempDir()
	out := filepath.Join(dir, "b.tar")

	if _, _, err := reader.Backup(t.Context(), out, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("reader: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a refused backup left %v", names)
	}
	var calls int
	var last server.BackupProgress
	info, n, err := admin.Backup(t.Context(), out, func(p server.BackupProgress) { calls++; last = p })
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() != n || last.Done != n || last.Total != n || calls == 0 {
		t.Fatalf("saved %v (%v), reported %d bytes, last progress %+v", st, err, n, last)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	f, _ := os.Open(out)
	again, err := server.VerifyBackup(f)
	f.Close()
	if err != nil || again != info {
		t.Fatalf("saved file: %+v %v, want %+v", again, err, info)
	}
	if _, _, err := admin.Backup(t.Context(), out, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup to the same file: %v", err)
	}
	if names := dirNames(t, dir); fmt.Sprint(names) != "[b.tar]" {
		t.Fatalf("folder holds %v", names)
	}
}

func TestBackupProgressLine(t *testing.T) {
	for _, tc := range []struct {
		p       server.BackupProgress
		elapsed time.Duration
		want    string
	}{
		{server.BackupProgress{Done: 0, Total: -1}, 0, "saving 0 B"},
		{server.BackupProgress{Done: 1536, Total: -1}, time.Second, "saving 1.5 KiB, 0.0 MiB/s"},
		{server.BackupProgress{Done: 12 << 20, Total: 48 << 20}, 2 * time.Second, "saving 12.0 MiB of 48.0 MiB (25%), 6.0 MiB/s, ETA 6s"},
		{server.BackupProgress{Done: 3 << 30, Total: 3 << 30}, time.Minute, "saving 3.0 GiB of 3.0 GiB (100%), 51.2 MiB/s, ETA 0s"},
	} {
		if got := tc.p.Line("saving", tc.elapsed); got != tc.want {
			t.Errorf("Line(%+v, %v) = %q, want %q", tc.p, tc.elapsed, got, tc.want)
		}
	}
}

// FuzzVerifyBackup feeds arbitrary archives to the verifier: no panic,
// every refusal wraps ErrBackupInvalid, and an accepted archive is what
// archive/tar and blake3 independently agree is a valid backup.
func FuzzVerifyBackup(f *testing.F) {
	f.Add(buildTar(f, archiveEntries(sampleFiles...)))
	f.Add(buildTar(f, archiveEntries("CURRENT", "x", "MANIFEST-1", "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := server.VerifyBackup(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, server.ErrBackupInvalid) {
				t.Fatalf("error %v does not wrap ErrBackupInvalid", err)
			}
			return
		}
		tr := tar.NewReader(bytes.NewReader(data))
		var files int
		var total int64
		var names []string
		sums := map[string][32]byte{}
		var last []byte
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("accepted, but archive/tar says %v", err)
			}
			body, _ := io.ReadAll(tr)
			path, ok := strings.CutPrefix(hdr.Name, "amaters-backup/")
			name, isDB := strings.CutPrefix(path, "db/")
			if !ok || hdr.Typeflag != tar.TypeReg || (isDB && (strings.ContainsAny(name, "/\\") || name == ".." || name == ".")) {
				t.Fatalf("accepted entry %q of type %c", hdr.Name, hdr.Typeflag)
			}
			if isDB {
				files++
				total += int64(len(body))
			}
			names = append(names, path)
			sums[path] = blake3.Sum256(body)
			last = body
		}
		if names[0] != "FORMAT" || names[len(names)-1] != "BLAKE3SUMS" || files != info.Files || total != info.Bytes {
			t.Fatalf("accepted %v as %+v", names, info)
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(last), "\n"), "\n") {
			if want := fmt.Sprintf("%x  %s", sums[names[i]], names[i]); line != want {
				t.Fatalf("accepted sums line %q, want %q", line, want)
			}
		}
	})
}

// BenchmarkVerifyBackup measures the verifying reader that backup and
// restore run over every byte: tar parsing plus BLAKE3.
func BenchmarkVerifyBackup(b *testing.B) {
	table := strings.Repeat("0123456789abcdef", 1<<19) // 8 MiB
	archive := buildTar(b, archiveEntries("000001.sst", table, "MANIFEST-000002", "m", "CURRENT", "MANIFEST-000002\n"))
	b.SetBytes(int64(len(archive)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := server.VerifyBackup(bytes.NewReader(archive)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientBackupGivesUpOnASilentServer: a server that stops sending
// mid-archive is abandoned after the client's timeout, and nothing is
// kept.
func TestClientBackupGivesUpOnASilentServer(t *testing.T) {
	archive := buildTar(t, archiveEntries(sampleFiles...))
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(archive[:len(archive)/2])
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // silent until the client hangs up
	}))
	defer stall.Close()
	c, err := server.NewClient(stall.URL, server.ClientOptions{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err = c.Backup(t.Context(), filepath.Join(dir, "b.tar"), nil)
	if err == nil || !strings.Contains(err.Error(), "sent nothing for 50ms") {
		t.Fatalf("got %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("left %v", names)
	}
}
