package logrot_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/logrot"
)

// benchLine is a 200-byte log line, the size the server writes.
func benchLine() []byte { return append(bytes.Repeat([]byte("x"), 199), '\n') }

func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts logrot.Options
	}{
		{"size", logrot.Options{MaxSize: 1 << 20, MaxBackups: 3}},
		{"hourly", logrot.Options{MaxSize: 1 << 20, MaxBackups: 3, Rotation: logrot.Hourly}},
		{"compress", logrot.Options{MaxSize: 1 << 20, MaxBackups: 3, Compress: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := logrot.New(filepath.Join(b.TempDir(), "server.log"), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			line := benchLine()
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Write(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteParallel(b *testing.B) {
	w, err := logrot.New(filepath.Join(b.TempDir(), "server.log"), logrot.Options{MaxSize: 1 << 20, MaxBackups: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := benchLine()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Write(line); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFile is the floor: the same writes to a bare *os.File.
func BenchmarkFile(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "server.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line := benchLine()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}
