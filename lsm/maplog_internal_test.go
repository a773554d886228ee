//go:build linux

package lsm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The mapped log behaves as File promises: appends, a take-back with
// Truncate, growth past the reservation, and a Close that cuts the file
// to what was appended.
func TestMappedLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "000001.log")
	f, err := osFS{}.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f = mapLog(f, 1<<20)
	if _, ok := f.(*mappedLog); !ok {
		t.Fatalf("mapLog did not map an OS file (%T)", f)
	}
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := f.Write(p); err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		want.Write(p)
	}
	write([]byte("hello world"))
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	want.Truncate(5)
	write([]byte("!!"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: grows the mapping twice
	write(big)
	if err := f.Truncate(int64(want.Len() + 1)); err == nil {
		t.Error("Truncate beyond the end succeeded")
	}
	got := make([]byte, want.Len())
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("ReadAt before Close differs (%v)", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) {
		t.Fatalf("file after Close: %d bytes, want %d", len(data), want.Len())
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// Files of other file systems are left alone.
func TestMapLogLeavesMemFS(t *testing.T) {
	m := newMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := m.Create("/d/x.log")
	if err != nil {
		t.Fatal(err)
	}
	if g := mapLog(f, 1<<20); g != f {
		t.Fatalf("mapLog wrapped a MemFS file: %T", g)
	}
}
