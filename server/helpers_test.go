package server_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server"
	"amaters-server/server/backup"
	"amaters-server/server/config"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problems lists the joined *config.Error lines of err.
func problems(err error) []string {
	var out []string
	for _, e := range config.Problems(err) {
		out = append(out, e.Error())
	}
	return out
}

// loadAndValidate loads a configuration and checks it as start does,
// loading the files it names.
func loadAndValidate(t *testing.T, path string, env []string, o config.Overrides) (config.Config, []string) {
	t.Helper()
	cfg, err := config.Load(path, env, o)
	return cfg, problems(errors.Join(err, server.Validate(cfg)))
}

func wantProblem(t *testing.T, got []string, want string) {
	t.Helper()
	for _, g := range got {
		if strings.Contains(g, want) {
			return
		}
	}
	t.Errorf("no problem contains %q; got:\n  %s", want, strings.Join(got, "\n  "))
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

// memSource is a backup source held in memory: file names and contents.
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

// sampleArchive is a valid backup archive of three small files.
func sampleArchive(t testing.TB) []byte {
	t.Helper()
	src := memSource{"000004.sst", strings.Repeat("table bytes ", 100), "MANIFEST-000005", "manifest", "CURRENT", "MANIFEST-000005\n"}
	info := backup.Info{ServerVersion: "0.2.0", Created: time.Unix(1767322800, 0).UTC(), Engine: "lsm", LastSequence: 7, Files: 3}
	for _, f := range src.Files() {
		info.Bytes += f.Size
	}
	var buf bytes.Buffer
	if err := backup.Write(&buf, info, src); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
