package logrot_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"amaters-server/logrot"
)

// tickingClock returns base() plus one millisecond more at every call, so
// that every rotation gets its own stamp.
func tickingClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return base().Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

var backupRE = regexp.MustCompile(`^server-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(_\d{4,})?\.log$`)

// logFiles returns the contents of the backups in name order, then of the
// current file, checking that every other name is a well-formed backup.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range names(t, dir) {
		if name == "server.log" {
			continue
		}
		if !backupRE.MatchString(name) {
			t.Errorf("unexpected file %q", name)
		}
		out = append(out, readLog(t, filepath.Join(dir, name)))
	}
	return append(out, readLog(t, filepath.Join(dir, "server.log")))
}

func TestSizeRotation(t *testing.T) {
	big := "0123456789abcdef"
	tests := []struct {
		name     string
		existing string // content of the file before New; "" for none
		maxSize  int64
		writes   []string
		want     []string // file contents, oldest first, current last
	}{
		{"fits exactly", "", 10, []string{"12345", "12345"}, []string{"1234512345"}},
		{"one byte over", "", 10, []string{"12345", "123456"}, []string{"12345", "123456"}},
		{"full then one byte", "", 10, []string{"1234512345", "x"}, []string{"1234512345", "x"}},
		{"larger than max goes alone", "", 10, []string{"ab", big, "cd"}, []string{"ab", big, "cd"}},
		{"larger than max into empty file", "", 10, []string{big, "cd"}, []string{big, "cd"}},
		{"two larger than max", "", 10, []string{big, big}, []string{big, big}},
		{"empty write never rotates", "", 10, []string{big, "", ""}, []string{big}},
		{"existing size counts", "12345678", 10, []string{"abc"}, []string{"12345678", "abc"}},
		{"existing file appended", "1234", 10, []string{"abc"}, []string{"1234abc"}},
		{"existing file over max", big, 10, []string{"x"}, []string{big, "x"}},
		{"negative max is no limit", "", -1, []string{big, big, big}, []string{big + big + big}},
		{"zero max is 100 MiB", "", 0, []string{big, big, big}, []string{big + big + big}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "server.log")
			if tc.existing != "" {
				writeFile(t, path, []byte(tc.existing), 0o600)
			}
			w, err := logrot.New(path, logrot.Options{MaxSize: tc.maxSize, Clock: tickingClock()})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.writes {
				mustWrite(t, w, s)
			}
			st := w.Stats()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := logFiles(t, dir)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("files = %q, want %q", got, tc.want)
			}
			if st.Rotations != uint64(len(tc.want)-1) || st.Size != int64(len(tc.want[len(tc.want)-1])) {
				t.Errorf("stats = %+v, want %d rotations, size %d", st, len(tc.want)-1, len(tc.want[len(tc.want)-1]))
			}
			if st.WriteErrors+st.RotateErrors+st.BackgroundErrors != 0 {
				t.Errorf("stats = %+v, want no errors", st)
			}
		})
	}
}

func TestBackupNamesNeverReused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	// Backups already there in the first two names of base()'s millisecond.
	writeFile(t, filepath.Join(dir, "server-2026-11-26T18-04-05.123.log"), []byte("old"), 0o600)
	writeFile(t, filepath.Join(dir, "server-2026-11-26T18-04-05.123_0001.log.gz"), gz(t, "older"), 0o600)
	clock := newClock(base())
	w := open(t, path, logrot.Options{Clock: clock.Now})
	for _, s := range []string{"a", "b", "c"} {
		mustWrite(t, w, s)
		if err := w.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(base().Add(time.Millisecond))
	mustWrite(t, w, "d")
	if err := w.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"server-2026-11-26T18-04-05.123.log":         "old",
		"server-2026-11-26T18-04-05.123_0001.log.gz": "older",
		"server-2026-11-26T18-04-05.123_0002.log":    "a",
		"server-2026-11-26T18-04-05.123_0003.log":    "b",
		"server-2026-11-26T18-04-05.123_0004.log":    "c",
		"server-2026-11-26T18-04-05.124.log":         "d",
		"server.log":                                 "",
	}
	if got := contents(t, dir); !equalMaps(got, want) {
		t.Errorf("files = %q\nwant %q", got, want)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestNamesWithoutExtension(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(base())
	w := open(t, filepath.Join(dir, "audit"), logrot.Options{Clock: clock.Now, LocalTime: true})
	mustWrite(t, w, "x")
	if err := w.Rotate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"audit", "audit-2026-11-26T18-04-05.123"}
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names = %q, want %q", got, want)
	}
}

func TestFileMode(t *testing.T) {
	tests := []struct {
		name        string
		existing    fs.FileMode // mode of a file there before New; 0 for none
		opt         fs.FileMode // Options.FileMode
		first, next fs.FileMode // want: the file New opens, the file after Rotate
	}{
		{"default", 0, 0, 0o600, 0o600},
		{"option", 0, 0o640, 0o640, 0o640},
		{"existing kept", 0o640, 0, 0o640, 0o640},
		{"existing wide kept", 0o644, 0, 0o644, 0o644},
		{"option applies to new files", 0o640, 0o600, 0o640, 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "server.log")
			if tc.existing != 0 {
				writeFile(t, path, []byte("x"), tc.existing)
			}
			w := open(t, path, logrot.Options{FileMode: tc.opt, Clock: tickingClock()})
			checkMode(t, path, tc.first)
			mustWrite(t, w, "y")
			if err := w.Rotate(); err != nil {
				t.Fatal(err)
			}
			checkMode(t, path, tc.next)
			for _, name := range names(t, dir) {
				if name != "server.log" {
					checkMode(t, filepath.Join(dir, name), tc.first) // a backup keeps its mode
				}
			}
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", filepath.Base(path), got, want)
	}
}

func TestCreatesDirectories(t *testing.T) {
	tests := []struct {
		name string
		opt  fs.FileMode
		want fs.FileMode
	}{
		{"default", 0, 0o700},
		{"option", 0o750, 0o750},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "a", "b", "server.log")
			w := open(t, path, logrot.Options{DirMode: tc.opt})
			mustWrite(t, w, "x")
			checkMode(t, filepath.Join(root, "a"), tc.want)
			checkMode(t, filepath.Join(root, "a", "b"), tc.want)
			checkMode(t, path, 0o600)
		})
	}
}

func TestReopenAfterMove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	w := open(t, path, logrot.Options{MaxBackups: 1, Clock: tickingClock()})
	mustWrite(t, w, "a\n")
	// logrotate: move, then SIGHUP.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "b\n") // still the moved file until Reopen
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "c\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"server.log": "c\n", "server.log.1": "a\nb\n"}
	if got := contents(t, dir); !equalMaps(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	if st := w.Stats(); st.RotateErrors != 0 || st.Rotations != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestReopenKeepsExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	w := open(t, path, logrot.Options{})
	mustWrite(t, w, "a")
	// logrotate with "create 0640" already made the new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte("new:"), 0o640)
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "b")
	if got := readLog(t, path); got != "new:b" {
		t.Errorf("file = %q, want %q", got, "new:b")
	}
	if got := w.Stats().Size; got != 5 {
		t.Errorf("Size = %d, want 5", got)
	}
	checkMode(t, path, 0o640)
}

// TestRotateFailureKeepsWriting replaces the directory by a file, which
// makes rename and create fail even for root.
func TestRotateFailureKeepsWriting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "server.log")
	w := open(t, path, logrot.Options{MaxSize: 10, Clock: tickingClock()})
	mustWrite(t, w, "12345")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, []byte("in the way"), 0o600)

	if err := w.Rotate(); err == nil {
		t.Error("Rotate succeeded without a directory")
	} else {
		checkPrefixedOnce(t, err)
	}
	mustWrite(t, w, "678901") // over MaxSize: rotation fails, the write does not
	if err := w.Reopen(); err == nil {
		t.Error("Reopen succeeded without a directory")
	} else {
		checkPrefixedOnce(t, err)
	}
	st := w.Stats()
	checkPrefixedOnce(t, st.LastError)
	if st.RotateErrors != 3 || st.WriteErrors != 0 || st.LastError == nil || st.Size != 11 || st.Rotations != 0 {
		t.Errorf("stats = %+v, want 3 rotate errors, size 11", st)
	}
	if !st.LastErrorAt.After(base()) {
		t.Errorf("LastErrorAt = %v, want a clock reading", st.LastErrorAt)
	}

	// Once the directory can be made again, Reopen recovers.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "new")
	if got := readLog(t, path); got != "new" {
		t.Errorf("file = %q, want %q", got, "new")
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	w := open(t, path, logrot.Options{MaxSize: 10, Clock: tickingClock()})
	mustWrite(t, w, "12345")
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	mustWrite(t, w, "678901")
	if err := w.Rotate(); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Rotate = %v, want permission error", err)
	} else {
		checkPrefixedOnce(t, err)
	}
	if st := w.Stats(); st.RotateErrors != 2 {
		t.Errorf("stats = %+v, want 2 rotate errors", st)
	}
	if got := readLog(t, path); got != "12345678901" {
		t.Errorf("file = %q: the write after a failed rotation is missing", got)
	}
	if _, err := logrot.New(filepath.Join(dir, "sub", "x.log"), logrot.Options{}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("New in read-only dir = %v, want permission error", err)
	} else {
		checkPrefixedOnce(t, err)
	}
}

// checkPrefixedOnce fails unless err says "logrot: " once, at its start
// (errors were once wrapped twice: "logrot: rotate: logrot: open ...").
func checkPrefixedOnce(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "logrot: ") || strings.Count(msg, "logrot:") != 1 {
		t.Errorf("error %q: want one \"logrot: \" prefix", msg)
	}
}

func TestWriteErrorsCounted(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	var fallback bytes.Buffer
	w := open(t, path, logrot.Options{MaxSize: 4, Fallback: &fallback})
	for _, s := range []string{"hello\n", "world\n"} {
		if n, err := io.WriteString(w, s); !errors.Is(err, syscall.ENOSPC) || n != 0 {
			t.Errorf("Write = %d, %v; want ENOSPC", n, err)
		}
	}
	// Not a regular file: never rotated (that would rename the link).
	if err := w.Rotate(); err != nil {
		t.Errorf("Rotate = %v", err)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("files = %q, want the link alone", got)
	}
	st := w.Stats()
	if st.WriteErrors != 2 || !errors.Is(st.LastError, syscall.ENOSPC) || st.RotateErrors != 0 {
		t.Errorf("stats = %+v", st)
	}
	if got := fallback.String(); got != "hello\nworld\n" {
		t.Errorf("fallback got %q", got)
	}
}

func TestAfterClose(t *testing.T) {
	dir := t.TempDir()
	var fallback bytes.Buffer
	w, err := logrot.New(filepath.Join(dir, "server.log"), logrot.Options{Fallback: &fallback})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "a")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := io.WriteString(w, "late"); !errors.Is(err, logrot.ErrClosed) {
		t.Errorf("Write = %v, want ErrClosed", err)
	}
	for name, f := range map[string]func() error{"Rotate": w.Rotate, "Reopen": w.Reopen, "Sync": w.Sync} {
		if err := f(); !errors.Is(err, logrot.ErrClosed) {
			t.Errorf("%s = %v, want ErrClosed", name, err)
		}
	}
	if fallback.String() != "late" || w.Stats().WriteErrors != 1 {
		t.Errorf("fallback %q, stats %+v", fallback.String(), w.Stats())
	}
}

func TestSync(t *testing.T) {
	w := open(t, filepath.Join(t.TempDir(), "server.log"), logrot.Options{})
	mustWrite(t, w, "a")
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, nil, 0o600)
	tests := []struct {
		name    string
		path    string
		opts    logrot.Options
		invalid int // number of ErrInvalidOptions problems; 0 for another error
	}{
		{"empty path", "", logrot.Options{}, 1},
		{"negative backups", file, logrot.Options{MaxBackups: -1}, 1},
		{"negative age", file, logrot.Options{MaxAge: -time.Hour}, 1},
		{"unknown rotation", file, logrot.Options{Rotation: 9}, 1},
		{"file mode type bits", file, logrot.Options{FileMode: fs.ModeDir | 0o600}, 1},
		{"dir mode type bits", file, logrot.Options{DirMode: fs.ModeSetuid | 0o700}, 1},
		{"every problem", file, logrot.Options{MaxBackups: -1, MaxAge: -1, Rotation: 3}, 3},
		{"path is a directory", dir, logrot.Options{}, 0},
		{"parent is a file", filepath.Join(file, "server.log"), logrot.Options{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := logrot.New(tc.path, tc.opts)
			if err == nil {
				_ = w.Close()
				t.Fatal("New succeeded")
			}
			if errors.Is(err, logrot.ErrInvalidOptions) != (tc.invalid > 0) {
				t.Fatalf("New = %v; ErrInvalidOptions expected: %v", err, tc.invalid > 0)
			}
			if tc.invalid > 1 {
				joined, ok := err.(interface{ Unwrap() []error })
				if !ok || len(joined.Unwrap()) != tc.invalid {
					t.Errorf("New = %v, want %d joined problems", err, tc.invalid)
				}
			}
		})
	}
}

func TestRotationText(t *testing.T) {
	for _, r := range []logrot.Rotation{logrot.BySize, logrot.Hourly, logrot.Daily} {
		text, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back logrot.Rotation
		if err := back.UnmarshalText(text); err != nil || back != r {
			t.Errorf("round trip of %v via %q = %v, %v", r, text, back, err)
		}
	}
	for _, s := range []string{"", "Daily", "weekly", "size "} {
		if _, err := logrot.ParseRotation(s); !errors.Is(err, logrot.ErrInvalidOptions) {
			t.Errorf("ParseRotation(%q) = %v, want ErrInvalidOptions", s, err)
		}
	}
	if _, err := logrot.Rotation(7).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown rotation succeeded")
	}
	if got := logrot.Rotation(7).String(); got != "Rotation(7)" {
		t.Errorf("String = %q", got)
	}
}
