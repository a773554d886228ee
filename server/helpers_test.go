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

	"amaters-server/server"
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
