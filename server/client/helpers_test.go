package client_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server"
	"amaters-server/server/backup"
	"amaters-server/server/config"
)

// startLoopbackServer runs a memory-engine server on free loopback ports,
// with cfg adjusted by mutate, until stop is called; it returns the API's
// HOST:PORT.
func startLoopbackServer(mutate func(*config.Config)) (addr string, stop func() error, err error) {
	return startLoopbackServerWith(mutate, server.Options{})
}

// startLoopbackServerWith is startLoopbackServer with opts (its Logger
// discards when nil).
func startLoopbackServerWith(mutate func(*config.Config), opts server.Options) (addr string, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "amaters-client-")
	if err != nil {
		return "", nil, err
	}
	cfg := config.Default()
	cfg.Server.BindAddress = "127.0.0.1:0"
	cfg.Health.HTTPPort = 0
	cfg.Server.DataDir = dir
	cfg.Storage.Engine = "memory"
	if mutate != nil {
		mutate(&cfg)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		os.RemoveAll(dir)
		return "", nil, err
	}
	return srv.Addr(), func() error {
		cancel()
		err := <-done
		os.RemoveAll(dir)
		return err
	}, nil
}

// startServer is startLoopbackServer for a test, stopped when it ends.
func startServer(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	addr, stop, err := startLoopbackServer(mutate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	return addr
}

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// token mints an HS256 JWT for testSecret, independently of package authn.
func token(t *testing.T, sub string, roles, collections []string) string {
	t.Helper()
	claims := map[string]any{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if roles != nil {
		claims["roles"] = roles
	}
	if collections != nil {
		claims["collections"] = collections
	}
	enc := base64.RawURLEncoding
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
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
