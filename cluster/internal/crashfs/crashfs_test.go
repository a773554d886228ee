package crashfs

import (
	"errors"
	"io"
	"testing"
)

func read(t *testing.T, fs *FS, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b)
}

// TestStop: the state Stop returns is Crash's or Kill's, and after Stop
// the FS refuses every change, so nothing written after the crash point
// can be made durable (and acknowledged) by the process still using it.
func TestStop(t *testing.T) {
	for _, powerCut := range []bool{true, false} {
		fs := New()
		if err := fs.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := fs.Create("/d/f")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := fs.OpenDir("/d")
		f.Write([]byte("synced"))
		f.Sync()
		d.Sync()
		f.Write([]byte("+written"))

		after := fs.Stop(powerCut)
		want := "synced+written"
		if powerCut {
			want = "synced"
		}
		if got := read(t, after, "/d/f"); got != want {
			t.Errorf("powerCut=%v: crash state %q, want %q", powerCut, got, want)
		}

		changes := map[string]error{}
		_, changes["write"] = f.Write([]byte("late"))
		changes["sync"] = f.Sync()
		changes["truncate"] = f.(interface{ Truncate(int64) error }).Truncate(0)
		changes["dir sync"] = d.Sync()
		_, changes["create"] = fs.Create("/d/g")
		changes["rename"] = fs.Rename("/d/f", "/d/h")
		changes["remove"] = fs.Remove("/d/f")
		changes["mkdir"] = fs.MkdirAll("/e", 0o755)
		_, changes["lock"] = fs.Lock("/d/LOCK")
		for op, err := range changes {
			if !errors.Is(err, ErrStopped) {
				t.Errorf("powerCut=%v: %s after Stop: %v, want ErrStopped", powerCut, op, err)
			}
		}
		if got := read(t, fs, "/d/f"); got != "synced+written" {
			t.Errorf("powerCut=%v: stopped FS reads %q", powerCut, got)
		}
		// The crash state is a file system of its own, to restart from.
		g, err := after.Create("/d/g")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
}
