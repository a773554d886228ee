package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"amaters-server/blake3"
	"amaters-server/lsm"
	"amaters-server/server/backup"
)

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

func TestVerifyRefuses(t *testing.T) {
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
			_, err := backup.Verify(bytes.NewReader(tc.archive))
			if !errors.Is(err, backup.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBackupInvalid saying %q", err, tc.want)
			}
		})
	}
	if _, err := backup.Verify(bytes.NewReader(body(valid))); err != nil {
		t.Fatalf("the valid archive: %v", err)
	}
	// Zero padding after the end (a tar blocking factor) is fine.
	if _, err := backup.Verify(bytes.NewReader(append(body(valid), make([]byte, 9000)...))); err != nil {
		t.Fatalf("padded: %v", err)
	}
}

func reorder(lines []string) []string {
	lines[0], lines[1] = lines[1], lines[0]
	return lines
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
		_, err := backup.Restore(t.Context(), good, dir, nil)
		if !errors.Is(err, backup.ErrNotEmpty) {
			t.Fatalf("got %v", err)
		}
		if names := dirNames(t, dir); fmt.Sprint(names) != "[keep]" {
			t.Fatalf("folder now holds %v", names)
		}
	})
	t.Run("a file", func(t *testing.T) {
		if _, err := backup.Restore(t.Context(), good, good, nil); !errors.Is(err, backup.ErrNotEmpty) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("damaged into a new folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		_, err := backup.Restore(t.Context(), bad, dir, nil)
		if !errors.Is(err, backup.ErrInvalid) || !strings.Contains(err.Error(), "db/MANIFEST-000005") {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the new folder was left behind: %v", err)
		}
	})
	t.Run("damaged into an empty folder", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := backup.Restore(t.Context(), bad, dir, nil); !errors.Is(err, backup.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Fatalf("left behind %v", names)
		}
	})
	t.Run("path traversal", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "data")
		if _, err := backup.Restore(t.Context(), escape, dir, nil); !errors.Is(err, backup.ErrInvalid) {
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
		if _, err := backup.Restore(ctx, good, dir, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the new folder was left behind: %v", err)
		}
	})
	t.Run("good", func(t *testing.T) {
		dir := t.TempDir()
		var last backup.Progress
		info, err := backup.Restore(t.Context(), good, dir, func(p backup.Progress) { last = p })
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

// Restore from a FIFO is refused at once (opening it blocked until a
// writer came, or a second signal).
func TestRestoreFromFIFORefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "b.tar")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := backup.Restore(context.Background(), fifo, filepath.Join(t.TempDir(), "data"), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("restore from a FIFO: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("restore from a FIFO blocked")
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		p       backup.Progress
		elapsed time.Duration
		want    string
	}{
		{backup.Progress{Done: 0, Total: -1}, 0, "saving 0 B"},
		{backup.Progress{Done: 1536, Total: -1}, time.Second, "saving 1.5 KiB, 0.0 MiB/s"},
		{backup.Progress{Done: 12 << 20, Total: 48 << 20}, 2 * time.Second, "saving 12.0 MiB of 48.0 MiB (25%), 6.0 MiB/s, ETA 6s"},
		{backup.Progress{Done: 3 << 30, Total: 3 << 30}, time.Minute, "saving 3.0 GiB of 3.0 GiB (100%), 51.2 MiB/s, ETA 0s"},
	} {
		if got := tc.p.Line("saving", tc.elapsed); got != tc.want {
			t.Errorf("Line(%+v, %v) = %q, want %q", tc.p, tc.elapsed, got, tc.want)
		}
	}
}

// FuzzVerify feeds arbitrary archives to the verifier: no panic,
// every refusal wraps ErrBackupInvalid, and an accepted archive is what
// archive/tar and blake3 independently agree is a valid backup.
func FuzzVerify(f *testing.F) {
	f.Add(buildTar(f, archiveEntries(sampleFiles...)))
	f.Add(buildTar(f, archiveEntries("CURRENT", "x", "MANIFEST-1", "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := backup.Verify(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, backup.ErrInvalid) {
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

// BenchmarkVerify measures the verifying reader that backup and
// restore run over every byte: tar parsing plus BLAKE3.
func BenchmarkVerify(b *testing.B) {
	table := strings.Repeat("0123456789abcdef", 1<<19) // 8 MiB
	archive := buildTar(b, archiveEntries("000001.sst", table, "MANIFEST-000002", "m", "CURRENT", "MANIFEST-000002\n"))
	b.SetBytes(int64(len(archive)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backup.Verify(bytes.NewReader(archive)); err != nil {
			b.Fatal(err)
		}
	}
}

// memSource is a Source held in memory: file names and contents.
type memSource []string

func (m memSource) Files() []lsm.CheckpointFile {
	var out []lsm.CheckpointFile
	for i := 0; i+1 < len(m); i += 2 {
		out = append(out, lsm.CheckpointFile{Name: m[i], Size: int64(len(m[i+1]))})
	}
	return out
}

func (m memSource) Open(name string) (io.ReadCloser, error) {
	for i := 0; i+1 < len(m); i += 2 {
		if m[i] == name {
			return io.NopCloser(strings.NewReader(m[i+1])), nil
		}
	}
	return nil, os.ErrNotExist
}

// TestWriteIsWhatVerifyReads: Write's archive is exactly Size bytes, is
// the independently built archive of the same files byte for byte, and
// verifies and restores.
func TestWriteIsWhatVerifyReads(t *testing.T) {
	src := memSource(sampleFiles)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	info := backup.Info{ServerVersion: "0.2.0", Created: created, Engine: "lsm", LastSequence: 7, Files: 3}
	for _, f := range src.Files() {
		info.Bytes += f.Size
	}
	var buf bytes.Buffer
	if err := backup.Write(&buf, info, src); err != nil {
		t.Fatal(err)
	}
	if size := backup.Size(info, src.Files()); int64(buf.Len()) != size {
		t.Fatalf("wrote %d bytes, Size says %d", buf.Len(), size)
	}
	got, err := backup.Verify(bytes.NewReader(buf.Bytes()))
	info.Format = 1
	if err != nil || got != info {
		t.Fatalf("Verify: %+v, %v; want %+v", got, err, info)
	}
	// The same entries built by archive/tar, with the same mtime.
	entries := archiveEntries(sampleFiles...)
	var want bytes.Buffer
	tw := tar.NewWriter(&want)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.body)), Mode: 0o644, ModTime: created, Format: tar.FormatUSTAR})
		tw.Write(e.body)
	}
	tw.Close()
	if !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Fatalf("Write's archive differs from the documented layout built by archive/tar")
	}
	file := filepath.Join(t.TempDir(), "b.tar")
	os.WriteFile(file, buf.Bytes(), 0o600)
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := backup.Restore(t.Context(), file, dir, nil); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, filepath.Join(dir, "db")); fmt.Sprint(names) != "[000004.sst CURRENT MANIFEST-000005]" {
		t.Fatalf("db holds %v", names)
	}
}

// TestOutputNeverReplacesAFile: Create refuses an existing file, Discard
// leaves nothing, and Commit publishes the whole file under its name.
func TestOutputNeverReplacesAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.tar")
	os.WriteFile(path, []byte("mine"), 0o600)
	if _, err := backup.Create(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create over a file: %v", err)
	}
	os.Remove(path)
	o, err := backup.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Create(path); err == nil || !strings.Contains(err.Error(), ".partial exists") {
		t.Fatalf("a second Create while one writes: %v", err)
	}
	o.Write([]byte("half"))
	o.Discard()
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("Discard left %v", names)
	}
	o, _ = backup.Create(path)
	o.Write([]byte("whole"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	o.Discard() // after Commit: nothing
	if data, _ := os.ReadFile(path); string(data) != "whole" || fmt.Sprint(dirNames(t, dir)) != "[b.tar]" {
		t.Fatalf("after Commit: %q, %v", data, dirNames(t, dir))
	}
}
