// Package logrot_test compares amaters-server/logrot with
// gopkg.in/natefinch/lumberjack.v2, the rotating writer Go programs use
// today, and with a bare *os.File as the floor: the same lines, the same
// 1 MiB MaxSize and 3 backups, no compression.
//
//	go test -run XXX -bench . ./logrot/
package logrot_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/logrot"
	"gopkg.in/natefinch/lumberjack.v2"
)

const (
	maxSizeMiB = 1
	maxBackups = 3
)

type impl struct {
	name string
	open func(b *testing.B, path string) io.WriteCloser
}

func impls() []impl {
	return []impl{
		{"logrot", func(b *testing.B, path string) io.WriteCloser {
			w, err := logrot.New(path, logrot.Options{MaxSize: maxSizeMiB << 20, MaxBackups: maxBackups})
			if err != nil {
				b.Fatal(err)
			}
			return w
		}},
		{"lumberjack", func(_ *testing.B, path string) io.WriteCloser {
			return &lumberjack.Logger{Filename: path, MaxSize: maxSizeMiB, MaxBackups: maxBackups}
		}},
		{"osfile", func(b *testing.B, path string) io.WriteCloser {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}},
	}
}

func line(n int) []byte { return append(bytes.Repeat([]byte("x"), n-1), '\n') }

// BenchmarkWrite: one goroutine writing lines of 100 and 200 bytes.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{100, 200} {
		for _, im := range impls() {
			b.Run(fmt.Sprintf("line=%d/impl=%s", size, im.name), func(b *testing.B) {
				w := im.open(b, filepath.Join(b.TempDir(), "server.log"))
				defer w.Close()
				p := line(size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Write(p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriteParallel: GOMAXPROCS goroutines sharing one writer.
func BenchmarkWriteParallel(b *testing.B) {
	for _, size := range []int{100, 200} {
		for _, im := range impls() {
			b.Run(fmt.Sprintf("line=%d/impl=%s", size, im.name), func(b *testing.B) {
				w := im.open(b, filepath.Join(b.TempDir(), "server.log"))
				defer w.Close()
				p := line(size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := w.Write(p); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
