package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

// TestReloadWhileRunStarts reloads in a loop while Run starts, serves and
// stops: Run sets up what a reload touches (the audit log, the log files,
// the storage) before it is ready, and Reload must neither race with that
// (go test -race) nor act on a half-started server.
func TestReloadWhileRunStarts(t *testing.T) {
	for range 5 {
		cfg := loopbackConfig(t)
		sigs := make(chan os.Signal, 1)
		srv, err := server.New(cfg, server.Options{Logger: discardLogger(), Signals: sigs})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					srv.Reload()
				}
			}
		})
		wg.Go(func() { // and as SIGHUP does
			for {
				select {
				case <-stop:
					return
				case sigs <- syscall.SIGHUP:
				}
			}
		})
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		select {
		case <-srv.Ready():
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("not ready")
		}
		if err := srv.Reload(); err != nil {
			t.Fatalf("Reload once serving: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		close(stop)
		wg.Wait()
	}
}

// TestSignals: a SIGHUP sent while Run starts is applied once it serves;
// SIGTERM drains and stops; a second SIGTERM during the drain exits at
// once with 128+15, after removing the pid file.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "amaters.pid")
	cfg := loopbackConfig(t)
	cfg.Server.DataDir = filepath.Join(dir, "data")
	cfg.Server.PIDFile = pidFile
	loaded := make(chan struct{}, 10)
	sigs := make(chan os.Signal, 4)
	exited := make(chan int, 1)
	var logs syncBuffer
	srv, err := server.New(cfg, server.Options{
		Stderr:  &logs,
		Signals: sigs,
		LoadConfig: func() (config.Config, error) {
			c := cfg
			c.Middleware.RateLimitRPS = 7
			loaded <- struct{}{}
			return c, nil
		},
		Exit: func(code int) {
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the pid file is there at exit: %v", err)
			}
			exited <- code
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP // before Run: waits until it serves
	done := make(chan error, 1)
	go func() { done <- srv.Run(t.Context()) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("the SIGHUP sent during the start was not applied")
	}
	api := "http://" + srv.Addr()
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := get(t, api+"/v1/status")
		if strings.Contains(r, `"rps":7`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after the reload: %s", r)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Hold a request open, so that the drain waits for it.
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(get(t, api+"/v1/status"), `"connections":2`); {
		if time.Now().After(deadline) {
			t.Fatal("the held request never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "shutdown requested by signal"); {
		if time.Now().After(deadline) {
			t.Fatalf("SIGTERM did not start the shutdown:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 128+15 {
			t.Errorf("exit code %d, want 143", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not exit")
	}
	// Exit returned (a test's), so the drain goes on: let it end.
	conn.Write([]byte("0123456"))
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "second signal; exiting without finishing the drain") {
		t.Errorf("the abandon is not logged:\n%s", logs.String())
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestReloadRefusedOutsideRun: Reload refuses before Run serves and after
// it stopped, rather than touching what Run has not opened or has closed.
func TestReloadRefusedOutsideRun(t *testing.T) {
	cfg := loopbackConfig(t)
	srv, err := server.New(cfg, server.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); !errors.Is(err, server.ErrNotRunning) {
		t.Fatalf("Reload before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload while serving: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); !errors.Is(err, server.ErrNotRunning) {
		t.Fatalf("Reload after Run: %v", err)
	}
	if err := srv.Run(t.Context()); err == nil {
		t.Fatal("a second Run did not fail")
	}
}
