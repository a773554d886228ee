//go:build go1.25

package logrot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"amaters-server/logrot"
)

// These tests run in a synctest bubble: synctest.Wait returns once the
// Writer's background goroutine has finished its pass and is blocked again,
// and synctest.Test fails if it is still running when the test returns.

// foreign returns names of files in the log directory that are not
// backups of server.log: retention must never touch them.
func foreign() []string {
	return []string{
		"server.log.1",
		"server-notes.log",
		"server-2020-01-01T00-00-00.000.txt",
		"other-2020-01-01T00-00-00.000.log",
		"server-2020-01-01T00-00-00.00.log",
		"server-2020-01-01T00-00-00.000_1.log",
		"server-2020-01-01T00-00-00.000_0000.log",
		"server-2020-13-01T00-00-00.000.log",
		"server-2020-01-01T00-00-00.000.log.bak",
		"server-2020-01-01T00-00-00.000.log.gz.tmp.1",
	}
}

func TestRetention(t *testing.T) {
	now := base().Truncate(time.Millisecond) // names hold milliseconds
	name := func(ago time.Duration) string {
		return "server-" + now.Add(-ago).UTC().Format("2006-01-02T15-04-05.000") + ".log"
	}
	tests := []struct {
		name     string
		opts     logrot.Options
		existing []string // backups there before New
		rotate   bool     // rotate once after New
		want     []string // backups left, besides the one Rotate made
	}{
		{
			name:     "keep all by default",
			existing: []string{name(48 * time.Hour), name(time.Hour), name(time.Minute)},
			rotate:   true,
			want:     []string{name(48 * time.Hour), name(time.Hour), name(time.Minute)},
		},
		{
			name:     "count",
			opts:     logrot.Options{MaxBackups: 2},
			existing: []string{name(4 * time.Hour), name(3 * time.Hour), name(2 * time.Hour), name(time.Hour)},
			rotate:   true,
			want:     []string{name(time.Hour)},
		},
		{
			name:     "count at start-up",
			opts:     logrot.Options{MaxBackups: 2},
			existing: []string{name(4 * time.Hour), name(3 * time.Hour), name(2 * time.Hour), name(time.Hour)},
			want:     []string{name(2 * time.Hour), name(time.Hour)},
		},
		{
			name:     "age",
			opts:     logrot.Options{MaxAge: 24 * time.Hour},
			existing: []string{name(48 * time.Hour), name(24*time.Hour + time.Millisecond), name(24 * time.Hour), name(time.Hour)},
			rotate:   true,
			want:     []string{name(24 * time.Hour), name(time.Hour)},
		},
		{
			name:     "age removes what count would keep",
			opts:     logrot.Options{MaxBackups: 10, MaxAge: 24 * time.Hour},
			existing: []string{name(72 * time.Hour), name(48 * time.Hour), name(time.Hour)},
			rotate:   true,
			want:     []string{name(time.Hour)},
		},
		{
			name:     "count removes what age would keep",
			opts:     logrot.Options{MaxBackups: 2, MaxAge: 24 * time.Hour},
			existing: []string{name(3 * time.Hour), name(2 * time.Hour), name(time.Hour)},
			rotate:   true,
			want:     []string{name(time.Hour)},
		},
		{
			name: "compressed and sequenced backups count",
			opts: logrot.Options{MaxBackups: 3},
			existing: []string{
				name(3*time.Hour) + ".gz",
				name(2 * time.Hour),
				strings.TrimSuffix(name(2*time.Hour), ".log") + "_0001.log.gz",
				strings.TrimSuffix(name(2*time.Hour), ".log") + "_0002.log",
			},
			rotate: true,
			want: []string{
				strings.TrimSuffix(name(2*time.Hour), ".log") + "_0001.log.gz",
				strings.TrimSuffix(name(2*time.Hour), ".log") + "_0002.log",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				for _, n := range append(tc.existing, foreign()...) {
					data := []byte(n)
					if strings.HasSuffix(n, ".gz") {
						data = gz(t, n)
					}
					writeFile(t, filepath.Join(dir, n), data, 0o600)
				}
				// A directory named like a backup is not a backup either.
				if err := os.Mkdir(filepath.Join(dir, name(99*time.Hour)), 0o700); err != nil {
					t.Fatal(err)
				}
				opts := tc.opts
				opts.Clock = newClock(now).Now
				w, err := logrot.New(filepath.Join(dir, "server.log"), opts)
				if err != nil {
					t.Fatal(err)
				}
				want := append([]string{"server.log", name(99 * time.Hour)}, foreign()...)
				want = append(want, tc.want...)
				if tc.rotate {
					if err := w.Rotate(); err != nil {
						t.Fatal(err)
					}
					want = append(want, name(0))
				}
				synctest.Wait()
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if st := w.Stats(); st.BackgroundErrors != 0 {
					t.Errorf("background errors: %+v", st)
				}
				checkNames(t, dir, want)
			})
		})
	}
}

func checkNames(t *testing.T, dir string, want []string) {
	t.Helper()
	got := names(t, dir)
	wantSorted := append([]string(nil), want...)
	sortStrings(wantSorted)
	if strings.Join(got, "\n") != strings.Join(wantSorted, "\n") {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSorted, "\n"))
	}
}

func TestCompression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "server.log")
		writeFile(t, path, nil, 0o640)
		clock := newClock(base())
		w := open(t, path, logrot.Options{Compress: true, MaxBackups: 2, Clock: clock.Now})
		var lines []string
		for i := range 3 {
			line := strings.Repeat(string(rune('a'+i)), 100_000) + "\n"
			lines = append(lines, line)
			mustWrite(t, w, line)
			if err := w.Rotate(); err != nil {
				t.Fatal(err)
			}
			clock.Set(clock.Now().Add(time.Second))
			synctest.Wait()
		}
		mustWrite(t, w, "current\n")
		synctest.Wait()
		want := map[string]string{
			"server-2026-11-26T18-04-06.123.log.gz": lines[1],
			"server-2026-11-26T18-04-07.123.log.gz": lines[2],
			"server.log":                            "current\n",
		}
		if got := contents(t, dir); !equalMaps(got, want) {
			t.Errorf("files = %v, want %v", keys(got), keys(want))
		}
		for name := range want {
			checkMode(t, filepath.Join(dir, name), 0o640)
		}
		if st := w.Stats(); st.BackgroundErrors != 0 || st.Rotations != 3 {
			t.Errorf("stats = %+v", st)
		}
	})
}

// TestCompressionRecovery starts a Writer on the states a crash can leave
// in the middle of a compression (and some it cannot) and checks that one
// whole copy of the backup remains.
func TestCompressionRecovery(t *testing.T) {
	const (
		plain   = "server-2026-11-26T18-04-05.123.log"
		content = "the backup\n"
	)
	good := func(t *testing.T) []byte { return gz(t, content) }
	truncated := func(t *testing.T) []byte { b := gz(t, content); return b[:len(b)/2] }
	other := func(t *testing.T) []byte { return gz(t, "something else, longer than the backup\n") }
	zeros := func(*testing.T) []byte { return make([]byte, 64) }
	text := func(*testing.T) []byte { return []byte(content) }
	tests := []struct {
		name     string
		compress bool
		files    map[string]func(*testing.T) []byte
		want     []string // files left besides server.log; each holds content
		errors   uint64   // background errors expected
	}{
		{"crash while writing tmp", true,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz.tmp": truncated},
			[]string{plain + ".gz"}, 0},
		{"crash while writing tmp, compression off", false,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz.tmp": truncated},
			[]string{plain}, 0},
		{"crash before removing the plain file", true,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz": good},
			[]string{plain + ".gz"}, 0},
		{"crash before removing the plain file, compression off", false,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz": good},
			[]string{plain + ".gz"}, 0},
		{"gz full of zeros next to the plain file", false,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz": zeros},
			[]string{plain}, 0},
		{"gz of other data next to the plain file", true,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz": other},
			[]string{plain + ".gz"}, 0},
		{"truncated gz next to the plain file", true,
			map[string]func(*testing.T) []byte{plain: text, plain + ".gz": truncated},
			[]string{plain + ".gz"}, 0},
		{"complete tmp alone", false,
			map[string]func(*testing.T) []byte{plain + ".gz.tmp": good},
			[]string{plain + ".gz"}, 0},
		{"tmp next to a complete gz", true,
			map[string]func(*testing.T) []byte{plain + ".gz": good, plain + ".gz.tmp": truncated},
			[]string{plain + ".gz"}, 0},
		{"uncompressed backup from an earlier run", true,
			map[string]func(*testing.T) []byte{plain: text},
			[]string{plain + ".gz"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				for name, data := range tc.files {
					writeFile(t, filepath.Join(dir, name), data(t), 0o600)
				}
				w, err := logrot.New(filepath.Join(dir, "server.log"),
					logrot.Options{Compress: tc.compress, Clock: newClock(base()).Now})
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got := w.Stats().BackgroundErrors; got != tc.errors {
					t.Errorf("background errors = %d, want %d (%v)", got, tc.errors, w.Stats().LastError)
				}
				checkNames(t, dir, append([]string{"server.log"}, tc.want...))
				for _, name := range tc.want {
					if got := readLog(t, filepath.Join(dir, name)); got != content {
						t.Errorf("%s holds %q, want %q", name, got, content)
					}
				}
			})
		})
	}
}

// TestTruncatedTmpAloneIsKept: with no plain file a damaged .gz.tmp is the
// only copy of the data, so it stays, and the error is counted.
func TestTruncatedTmpAloneIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		tmp := "server-2026-11-26T18-04-05.123.log.gz.tmp"
		data := gz(t, "data")
		writeFile(t, filepath.Join(dir, tmp), data[:len(data)-4], 0o600)
		w := open(t, filepath.Join(dir, "server.log"), logrot.Options{Compress: true, Clock: newClock(base()).Now})
		synctest.Wait()
		if st := w.Stats(); st.BackgroundErrors != 1 || st.LastError == nil {
			t.Errorf("stats = %+v, want one background error", st)
		}
		checkNames(t, dir, []string{"server.log", tmp})
	})
}

// TestCloseStopsGoroutine closes a Writer while it compresses a large
// backup. synctest.Test fails if the background goroutine outlives Close.
// Whatever point Close interrupts, one whole copy is left, and the next
// New finishes the compression.
func TestCloseStopsGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "server.log")
		opts := logrot.Options{Compress: true, Clock: newClock(base()).Now}
		w, err := logrot.New(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Repeat("x", 1023) + "\n"
		big := strings.Repeat(line, 8<<10) // 8 MiB
		mustWrite(t, w, big)
		if err := w.Rotate(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		backup := "server-2026-11-26T18-04-05.123.log"
		got := names(t, dir)
		if len(got) != 2 || got[1] != "server.log" || (got[0] != backup && got[0] != backup+".gz") {
			t.Fatalf("files after Close = %q", got)
		}
		if readLog(t, filepath.Join(dir, got[0])) != big {
			t.Fatalf("%s does not hold the data", got[0])
		}

		w, err = logrot.New(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkNames(t, dir, []string{"server.log", backup + ".gz"})
		if readLog(t, filepath.Join(dir, backup+".gz")) != big {
			t.Fatal("compressed backup does not hold the data")
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
