package main

// End-to-end tests: they build the real binary once and drive it as an
// operator would, through its command line, signals and HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amaters-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "amaters-server")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary to completion and returns its exit code and output.
func cli(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// Bounded, so that a command that wrongly keeps running (a start
	// expected to fail) fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, o.String(), e.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemon is a server process started by a test.
type daemon struct {
	cmd    *exec.Cmd
	api    string        // HOST:PORT
	health string        // http://HOST:PORT
	logs   *lockedBuffer // the process writes it while the test reads it
	exited chan struct{}
	err    error
}

// startDaemon starts a server on free loopback ports, the memory engine
// and a temporary data folder (extra flags override them), and waits until
// it is ready; a server that exits instead fails the test.
func startDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"--data-dir", filepath.Join(t.TempDir(), "data"), "--engine", "memory"}, extra...)
	d, code, out := tryStart(t, args...)
	if d == nil {
		t.Fatalf("server exited at start: exit %d\n%s", code, out)
	}
	return d
}

// tryStart starts the server with args on free loopback ports and waits
// until it is ready (it returns the daemon) or exits (it returns nil, the
// exit code and the output).
func tryStart(t *testing.T, args ...string) (_ *daemon, code int, out string) {
	t.Helper()
	hp := freePort(t)
	d := &daemon{
		api:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		health: fmt.Sprintf("http://127.0.0.1:%d", hp),
		logs:   &lockedBuffer{},
		exited: make(chan struct{}),
	}
	args = append([]string{"start", "--bind", d.api, "--health-port", strconv.Itoa(hp)}, args...)
	d.cmd = exec.Command(binary, args...)
	// Readiness is the process's own READY=1 on a notify socket of this
	// test, not only a 200 from /readyz: a port freePort handed out may be
	// taken meanwhile by a server of another test process, whose /readyz
	// would answer for ours.
	sockDir, err := os.MkdirTemp("", "amn") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notify.Close() })
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains("\n"+string(buf[:n])+"\n", "\nREADY=1\n") {
				close(ready)
				return
			}
		}
	}()
	d.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOTIFY_SOCKET=" + sock}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("server log:\n%s", d.logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-d.exited:
			return nil, d.cmd.ProcessState.ExitCode(), d.logs.String()
		default:
		}
		select {
		case <-ready:
			if resp, err := http.Get(d.health + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return d, -1, ""
				}
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server neither ready nor exited:\n%s", d.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer that a process's output and a test can
// use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// wait returns the process's exit code once it exits, failing after limit.
func (d *daemon) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(limit):
		t.Fatalf("server did not exit within %v", limit)
	}
	return d.cmd.ProcessState.ExitCode()
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := cli(t, nil, "version")
	re := regexp.MustCompile(`^amaters-server 0\.3\.0 \(go1\.[0-9.]+ [a-z0-9]+/[a-z0-9]+, commit ([0-9a-f]{7}|unknown)\)\n$`)
	if code != 0 || !re.MatchString(out) {
		t.Fatalf("version: %d %q", code, out)
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if code, out, _ := cli(t, nil, args...); code != 0 || !strings.Contains(out, "validate-config") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	if code, out, _ := cli(t, nil, "--version"); code != 0 || !re.MatchString(out) {
		t.Fatalf("--version: %d %q", code, out)
	}
	// -h prints the usage once, on stdout, and nothing on stderr.
	for _, args := range [][]string{{"start", "-h"}, {"stop", "-h"}, {"status", "-h"}, {"validate-config", "-h"}, {"bench", "-h"}, {"backup", "--help"}, {"restore", "-h"}} {
		code, out, errOut := cli(t, nil, args...)
		if code != 0 || strings.Count(out, "Usage: amaters-server "+args[0]) != 1 || errOut != "" {
			t.Errorf("%v: %d %q, stderr %q", args, code, out, errOut)
		}
	}
	// A bad flag: the message and the usage once, on stderr.
	if code, out, errOut := cli(t, nil, "status", "--bogus"); code != 2 || out != "" || strings.Count(errOut, "Usage:") != 1 || !strings.Contains(errOut, "bogus") {
		t.Errorf("status --bogus: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"start", "--no-such-flag"}, {"status", "--format", "xml"}, {"version", "extra"}, {"start", "--health-port"}} {
		if code, _, errOut := cli(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message", args, code)
		}
	}
}

func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	seed, err := os.ReadFile("server/config/testdata/seed-config.toml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seedPath := write("seed.toml", string(seed))
	code, out, _ := cli(t, nil, "validate-config", "--config", seedPath)
	if code != 1 || !strings.Contains(out, seedPath+":13: auth.jwt_secret: ") {
		t.Fatalf("seed with placeholder: exit %d\n%s", code, out)
	}
	// The seed with a real secret and without the TLS files of another machine.
	fixed := strings.Replace(string(seed), `"change-me"`, `"`+strings.Repeat("0123456789", 4)+`"`, 1)
	fixed = regexp.MustCompile(`(?m)^tls_(cert|key) = .*$`).ReplaceAllString(fixed, "")
	fixed = strings.ReplaceAll(fixed, "/var/lib/amaters", filepath.Join(dir, "data"))
	fixedPath := write("fixed.toml", fixed)
	if code, out, _ := cli(t, nil, "validate-config", "--config", fixedPath); code != 0 || out != "configuration OK\n" {
		t.Fatalf("fixed seed: exit %d %q", code, out)
	}
	// --show prints the effective configuration with the secret redacted.
	code, out, _ = cli(t, []string{"AMATERS_LOG_LEVEL=debug"}, "validate-config", "--config", fixedPath, "--show", "--bind", "127.0.0.1:4444")
	if code != 0 || strings.Contains(out, "0123456789") || !strings.Contains(out, `jwt_secret = "<redacted>"`) ||
		!strings.Contains(out, `bind_address = "127.0.0.1:4444"`) || !strings.Contains(out, `log_level = "debug"`) {
		t.Fatalf("--show: exit %d\n%s", code, out)
	}
	// A typo, a bad enum and a bad port, all at once, with their lines.
	bad := write("bad.toml", "[server]\nbind_adress = \"127.0.0.1:7878\"\n[storage]\nsync = \"sometimes\"\n[health]\nhttp_port = -1\n")
	code, out, _ = cli(t, nil, "validate-config", "--config", bad)
	for _, want := range []string{
		bad + `:2: server.bind_adress: unknown key "bind_adress" (did you mean "bind_address"?)`,
		bad + `:4: storage.sync: "sometimes" is not one of always, interval, none`,
		bad + `:6: health.http_port: port -1 is out of range`,
	} {
		if !strings.Contains(out, want+"") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if code != 1 || strings.Count(out, "\n") != 3 {
		t.Errorf("exit %d with %d lines, want 1 with 3", code, strings.Count(out, "\n"))
	}
	// Environment and flags are validated too.
	if code, out, _ := cli(t, []string{"AMATERS_STORAGE_ENGINE=rocks"}, "validate-config"); code != 1 || !strings.Contains(out, "$AMATERS_STORAGE_ENGINE: storage.engine") {
		t.Errorf("env: %d %s", code, out)
	}
	if code, out, _ := cli(t, nil, "validate-config", "--config", filepath.Join(dir, "missing.toml")); code != 1 || !strings.Contains(out, "does not exist") {
		t.Errorf("missing file: %d %s", code, out)
	}
}

func TestStartRefusesBadConfigAndBusyPort(t *testing.T) {
	// A flag with a bad value is a bad flag (2); a bad file is a start
	// error (1).
	for flag, value := range map[string]string{"--engine": "rocks", "--health-port": "abc", "--log-level": "loud", "--bind": "bad"} {
		if code, _, errOut := cli(t, nil, "start", flag, value); code != 2 || !strings.Contains(errOut, "flag "+flag+": ") {
			t.Errorf("start %s %s: exit %d, want 2\n%s", flag, value, code, errOut)
		}
	}
	if code, _, errOut := cli(t, nil, "start", "--config", writeConfig(t, "[storage]\nengine = \"rocks\"\n")); code != 1 || !strings.Contains(errOut, "storage.engine") {
		t.Errorf("bad engine in the file: exit %d, want 1\n%s", code, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A start that fails on a busy port leaves no empty data folder behind.
	data := filepath.Join(t.TempDir(), "data")
	code, _, errOut := cli(t, nil, "start", "--bind", ln.Addr().String(), "--health-port", strconv.Itoa(freePort(t)),
		"--data-dir", data, "--engine", "lsm")
	if code != 1 || !strings.Contains(errOut, ln.Addr().String()+" is already in use") {
		t.Fatalf("busy port: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a start refused for a busy port made the data folder %s (%v)", data, err)
	}
}

func TestSigtermDrainsInFlightRequest(t *testing.T) {
	pid := filepath.Join(t.TempDir(), "run", "amaters.pid")
	d := startDaemon(t, "--config", writeConfig(t, fmt.Sprintf("[server]\npid_file = %q\nshutdown_timeout_ms = 20000\n", pid)))
	if data, err := os.ReadFile(pid); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(d.cmd.Process.Pid) {
		t.Fatalf("pid file: %q %v", data, err)
	}
	// A PUT whose body arrives slowly is in flight when SIGTERM comes.
	conn, err := net.Dial("tcp", d.api)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/collections/c/keys/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	waitFor(t, "server to count the in-flight connection", func() bool {
		return statusConnections(t, d) >= 1
	})
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "readyz to turn 503 while draining", func() bool {
		resp, err := http.Get(d.health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	if _, err := net.DialTimeout("tcp", d.api, time.Second); err == nil {
		t.Error("the API listener still accepts connections while draining")
	}
	fmt.Fprint(conn, "world")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request was cut: %v", err)
	}
	if resp.StatusCode != 204 {
		t.Fatalf("in-flight PUT: %d", resp.StatusCode)
	}
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, d.logs)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if !strings.Contains(d.logs.String(), "stopped cleanly") {
		t.Errorf("log lacks the clean stop:\n%s", d.logs)
	}
}

// holdSlowRequest starts a PUT that sends half its body and waits, so
// that a drain has a request in flight; the connection closes at the end
// of the test.
func holdSlowRequest(t *testing.T, d *daemon) {
	t.Helper()
	conn, err := net.Dial("tcp", d.api)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PUT /v1/collections/c/keys/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	waitFor(t, "server to count the in-flight connection", func() bool { return statusConnections(t, d) >= 1 })
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "amaters.pid")
	d := startDaemon(t, "--config", writeConfig(t, fmt.Sprintf("[server]\nshutdown_timeout_ms = 60000\npid_file = %q\n", pidFile)))
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != fmt.Sprintf("%d\n", d.cmd.Process.Pid) {
		t.Fatalf("pid file: %q %v", b, err)
	}
	holdSlowRequest(t, d)
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "draining", func() bool {
		resp, err := http.Get(d.health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not end the drain at once")
	}
	if d.cmd.ProcessState.Success() {
		t.Error("the interrupted drain reported success")
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the pid file is left after the second signal: %v", err)
	}
}

func TestStopAndStatus(t *testing.T) {
	d := startDaemon(t)
	code, out, errOut := cli(t, nil, "status", "--addr", d.api)
	if code != 0 || !strings.Contains(out, "serving") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli(t, nil, "status", "--addr", d.api, "--format", "json")
	if code != 0 || !strings.Contains(out, `"state":"serving"`) || !strings.Contains(out, `"name":"amaters-server"`) {
		t.Fatalf("status json: %d %q", code, out)
	}
	code, out, errOut = cli(t, nil, "stop", "--addr", d.api, "--timeout", "20s")
	if code != 0 {
		t.Fatalf("stop: %d %q %q", code, out, errOut)
	}
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("server exit %d after stop", code)
	}
	// Now nothing listens: a refused connection is an answer, given at
	// once (--timeout 1h would hold a status that retried it).
	code, _, errOut = cli(t, nil, "status", "--addr", d.api, "--timeout", "1h")
	if code != 1 || !strings.Contains(errOut, "not reachable") || !strings.Contains(errOut, "refused") {
		t.Fatalf("status of a stopped server: %d %q", code, errOut)
	}
	code, out, _ = cli(t, nil, "status", "--addr", d.api, "--timeout", "1h", "--format", "json")
	var je struct {
		Error struct{ Code, Message string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &je) != nil || je.Error.Code != "not_running" || je.Error.Message == "" {
		t.Errorf("status --format json of a stopped server: %d %q", code, out)
	}
	// stop of a stopped server has nothing to do: exit 0, as systemctl stop.
	if code, out, errOut := cli(t, nil, "stop", "--addr", d.api, "--timeout", "1h"); code != 0 || !strings.Contains(out, "not running") {
		t.Errorf("stop of a stopped server: exit %d %q %q, want 0 and \"not running\"", code, out, errOut)
	}
	code, out, _ = cli(t, nil, "stop", "--addr", d.api, "--format", "json")
	var sr struct {
		WasRunning *bool `json:"was_running"`
		Stopped    bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &sr) != nil || sr.WasRunning == nil || *sr.WasRunning || !sr.Stopped {
		t.Errorf("stop --format json of a stopped server: %d %q", code, out)
	}
}

// TestStopWaitsForExit: `stop` returns once the process is done with its
// data folder, not when the API port closes (at the start of the drain),
// so that `stop && start` on the same folder works even while a slow
// request holds the drain open.
func TestStopWaitsForExit(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, "[server]\nshutdown_timeout_ms = 2000\n")
	d := startDaemon(t, "--config", cfg, "--data-dir", data, "--engine", "lsm")
	holdSlowRequest(t, d)
	if code, out, errOut := cli(t, nil, "stop", "--addr", d.api, "--timeout", "20s"); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %d %q %q", code, out, errOut)
	}
	// The folder is free at once: a new server on it starts.
	d2 := startDaemon(t, "--config", cfg, "--data-dir", data, "--engine", "lsm")
	if code, _, errOut := cli(t, nil, "status", "--addr", d2.api); code != 0 {
		t.Fatalf("status of the second server: %d %s", code, errOut)
	}
	<-d.exited
	if !d.cmd.ProcessState.Success() {
		t.Errorf("the first server exited with %v", d.err)
	}
}

func TestBareConfigFormStarts(t *testing.T) {
	ap, hp := freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("[server]\nbind_address = \"127.0.0.1:%d\"\ndata_dir = %q\n[storage]\nengine = \"memory\"\n[health]\nhttp_port = %d\n",
		ap, filepath.Join(t.TempDir(), "d"), hp))
	cmd := exec.Command(binary, "--config", cfg)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	api := fmt.Sprintf("http://127.0.0.1:%d", ap)
	waitFor(t, "the server to answer", func() bool {
		resp, err := http.Get(api + "/v1/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	req, _ := http.NewRequest("PUT", api+"/v1/collections/c/keys/k", strings.NewReader("v"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, logs.String())
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func statusConnections(t *testing.T, d *daemon) int {
	resp, err := http.Get("http://" + d.api + "/v1/status")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`"connections":(\d+)`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	// This status request's own connection is one of them.
	return n - 1
}

// waitFor polls cond until it holds, failing after 15 s. Polling an
// outside process is the one place a test must wait on real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthStatusStopAndSighup(t *testing.T) {
	dir := t.TempDir()
	hash := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return base64.StdEncoding.EncodeToString(sum[:])
	}
	keys := filepath.Join(dir, "keys.json")
	writeKeys := func(entries ...string) {
		if err := os.WriteFile(keys, []byte("["+strings.Join(entries, ",")+"]"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(id, key, role string) string {
		return fmt.Sprintf(`{"id":%q,"key_hash":%q,"user_id":%q,"roles":[%q]}`, id, hash(key), id, role)
	}
	writeKeys(entry("ops", "admin-key-1", "admin"), entry("app", "reader-key-1", "reader"))
	d := startDaemon(t, "--config", writeConfig(t, fmt.Sprintf("[auth]\napi_keys_file = %q\n", keys)))

	if code, _, errOut := cli(t, nil, "status", "--addr", d.api); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("status without credentials: %d %q", code, errOut)
	}
	if code, out, _ := cli(t, nil, "status", "--addr", d.api, "--api-key", "reader-key-1"); code != 0 || !strings.Contains(out, "serving") {
		t.Errorf("status --api-key: %d %q", code, out)
	}
	if code, _, _ := cli(t, []string{"AMATERS_API_KEY=reader-key-1"}, "status", "--addr", d.api); code != 0 {
		t.Errorf("status with AMATERS_API_KEY: %d", code)
	}
	if code, _, errOut := cli(t, nil, "stop", "--addr", d.api, "--api-key", "reader-key-1"); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("stop by a reader: %d %q", code, errOut)
	}

	// SIGHUP picks up a new keys file; a broken one is refused and the
	// keys in force stay.
	writeKeys(entry("ops", "admin-key-2", "admin"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the new key after SIGHUP", func() bool {
		code, _, _ := cli(t, nil, "status", "--addr", d.api, "--api-key", "admin-key-2")
		return code == 0
	})
	if code, _, _ := cli(t, nil, "status", "--addr", d.api, "--api-key", "admin-key-1"); code != 1 {
		t.Errorf("a removed key still works after SIGHUP")
	}
	writeKeys(`{"id": broken`)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refused reload in the log", func() bool { return strings.Contains(d.logs.String(), "reload refused") })
	if code, out, errOut := cli(t, nil, "stop", "--addr", d.api, "--api-key", "admin-key-2"); code != 0 {
		t.Fatalf("stop by admin after a refused reload: %d %q %q", code, out, errOut)
	}
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestLogFileRotationAndReopen(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "logs", "server.log")
	d := startDaemon(t, "--config", writeConfig(t, fmt.Sprintf("[logging]\nfile = %q\nmax_size_mb = 1\nmax_backups = 2\n[middleware]\nrate_limit_rps = 0\n", logFile)))
	client := &http.Client{}
	put := func(id string) {
		req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/c/keys/k", strings.NewReader("v"))
		req.Header.Set("X-Request-Id", id)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const n = 12000
	// Long request ids make the 12k access lines about 4 MiB.
	id := func(i int) string { return fmt.Sprintf("req-%05d-%s", i, strings.Repeat("x", 100)) }
	for i := range n {
		put(id(i))
	}
	// Access lines are written in batches, and old backups are pruned in
	// the background: wait for the last line and for the count to settle.
	var files []string
	waitFor(t, "the last request in the log", func() bool {
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), id(n-1))
	})
	waitFor(t, "backups pruned to max_backups", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "logs", "*"))
		files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, ".lock") }) // the log's lock
		return len(files) == 3
	})
	all := ""
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over max_size_mb = 1", f, st.Size())
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
		data, _ := os.ReadFile(f)
		all += string(data)
	}
	if strings.Contains(all, "request_id="+id(0)+" ") {
		t.Error("the oldest lines are still there: no backup was ever pruned")
	}
	for i := n - 500; i < n; i++ {
		if c := strings.Count(all, "request_id="+id(i)+" "); c != 1 {
			t.Fatalf("request %d logged %d times, want once", i, c)
		}
	}
	// logrotate style: move the file away, SIGHUP, and the server writes a new one.
	moved := filepath.Join(dir, "moved.log")
	if err := os.Rename(logFile, moved); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	// Requests sent before the signal is handled may still go to the moved
	// file; once one reached the new file, later ones must too.
	waitFor(t, "the reopened log file", func() bool {
		put("after-hup")
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), "request_id=after-hup ")
	})
	put("after-reopen")
	waitFor(t, "a later request in the new file", func() bool {
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), "request_id=after-reopen ")
	})
	if data, _ := os.ReadFile(moved); strings.Contains(string(data), "after-reopen") {
		t.Error("a request after the reopen went to the moved file")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if data, _ := os.ReadFile(logFile); !strings.Contains(string(data), "stopped cleanly") {
		t.Error("the shutdown is not in the log file")
	}
}

// TestLSMDurableAcrossRestarts loads 100k keys with a 1 MiB memtable, so
// flushes and compactions happen, then checks every key after a SIGTERM
// restart and after a SIGKILL restart.
func TestLSMDurableAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k keys")
	}
	data := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, "[storage]\nmemtable_size_mb = 1\n[middleware]\nrate_limit_rps = 0\n")
	args := []string{"--config", cfg, "--engine", "lsm", "--data-dir", data}
	const n = 100000
	d := startDaemon(t, args...)
	client := &http.Client{}
	value := func(i int) string { return fmt.Sprintf("value-%06d-%s", i, strings.Repeat("x", 40)) }
	for b := 0; b < n; b += 1000 {
		var ops []string
		for i := b; i < b+1000; i++ {
			ops = append(ops, fmt.Sprintf(`{"op":"set","collection":"load","key":%q,"value":%q}`,
				base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("key-%06d", i))),
				base64.StdEncoding.EncodeToString([]byte(value(i)))))
		}
		resp, err := client.Post("http://"+d.api+"/v1/batch", "application/json", strings.NewReader(`{"ops":[`+strings.Join(ops, ",")+`]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("batch at %d: %d", b, resp.StatusCode)
		}
	}
	// Deletes must stay deleted across restarts too.
	for i := 0; i < n; i += 1000 {
		req, _ := http.NewRequest("DELETE", fmt.Sprintf("http://%s/v1/collections/load/keys/key-%06d", d.api, i), nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("delete %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	waitFor(t, "flushes and a compaction in /metrics", func() bool {
		resp, err := http.Get(d.health + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f := regexp.MustCompile(`(?m)^amaters_lsm_flushes_total (\d+)`).FindSubmatch(body)
		c := regexp.MustCompile(`(?m)^amaters_lsm_compactions_total (\d+)`).FindSubmatch(body)
		if f == nil || c == nil {
			return false
		}
		flushes, _ := strconv.Atoi(string(f[1]))
		compactions, _ := strconv.Atoi(string(c[1]))
		return flushes >= 2 && compactions >= 1
	})
	verify := func(d *daemon) {
		t.Helper()
		all := scanCollection(t, d, "load")
		for k, v := range all {
			var i int
			fmt.Sscanf(k, "key-%06d", &i)
			if i%1000 == 0 {
				t.Fatalf("deleted key %s came back", k)
			}
			if v != value(i) {
				t.Fatalf("key %s = %q", k, v)
			}
		}
		if want := n - n/1000; len(all) != want {
			t.Fatalf("%d keys after restart, want %d", len(all), want)
		}
	}
	verify(d)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	d = startDaemon(t, args...)
	verify(d)
	d.cmd.Process.Kill()
	d.wait(t, 10*time.Second)
	d = startDaemon(t, args...)
	verify(d)
}

// TestSystemdNotify plays systemd: a unixgram socket as $NOTIFY_SOCKET
// must receive READY=1 once the server serves, watchdog pings,
// RELOADING=1 and READY=1 around each SIGHUP reload (refused or not), and
// STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ap, hp := freePort(t), freePort(t)
	cfgFile := writeConfig(t, "")
	cmd := exec.Command(binary, "start", "--config", cfgFile, "--bind", fmt.Sprintf("127.0.0.1:%d", ap), "--health-port", strconv.Itoa(hp),
		"--data-dir", filepath.Join(t.TempDir(), "d"), "--engine", "memory")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	read := func() string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		buf := make([]byte, 512)
		for {
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := conn.Read(buf)
			if err == nil {
				return string(buf[:n])
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the server exited (%v) before its next notification", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no notification: %v", err)
			}
		}
	}
	if msg := read(); !strings.HasPrefix(msg, "READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	// The server serves by then.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", hp))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("READY=1 sent before the server was ready: %v %v", resp, err)
	}
	resp.Body.Close()
	if msg := read(); msg != "WATCHDOG=1" {
		t.Fatalf("then %q, want WATCHDOG=1", msg)
	}
	// next skips watchdog pings.
	next := func() string {
		t.Helper()
		for {
			if msg := read(); msg != "WATCHDOG=1" {
				return msg
			}
		}
	}
	// A reload, then a refused one: each is RELOADING=1 with the
	// CLOCK_MONOTONIC time of the reload, then READY=1 with the outcome.
	for _, tc := range []struct {
		config, status string
	}{
		{"[server]\nlog_level = \"debug\"\n", "STATUS=serving; reloaded the configuration"},
		{"[server]\nlog_level = \"loud\"\n", "STATUS=serving; reload refused, the previous configuration stays in force: "},
	} {
		if err := os.WriteFile(cfgFile, []byte(tc.config), 0o600); err != nil {
			t.Fatal(err)
		}
		before := monotonicUsec(t)
		cmd.Process.Signal(syscall.SIGHUP)
		msg := next()
		after := monotonicUsec(t)
		lines := strings.Split(msg, "\n")
		var usec int64
		if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[2], "STATUS=") {
			t.Fatalf("on SIGHUP: %q, want RELOADING=1, MONOTONIC_USEC=, STATUS=", msg)
		}
		if _, err := fmt.Sscanf(lines[1], "MONOTONIC_USEC=%d", &usec); err != nil || usec < before || usec > after {
			t.Fatalf("%q: want MONOTONIC_USEC between %d and %d (CLOCK_MONOTONIC µs) (%v)", lines[1], before, after, err)
		}
		if msg := next(); !strings.HasPrefix(msg, "READY=1\n"+tc.status) || strings.Count(msg, "\n") != 1 {
			t.Fatalf("after the reload: %q, want READY=1 and %q", msg, tc.status)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for {
		msg := read()
		if strings.HasPrefix(msg, "STOPPING=1") {
			break
		}
		if msg != "WATCHDOG=1" {
			t.Fatalf("unexpected notification %q", msg)
		}
	}
	if err := <-exited; err != nil {
		exited <- err
		t.Fatalf("exit: %v", err)
	}
	exited <- nil
}

// TestDeployConfigIsValid keeps the Kubernetes ConfigMap's config.toml
// valid (with the secret the StatefulSet passes through the environment).
func TestDeployConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("deploy/kubernetes/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "config.toml: |\n")
	if !ok {
		t.Fatal("no config.toml in the ConfigMap")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, l[4:])
	}
	path := writeConfig(t, strings.Join(lines, "\n")+"\n")
	code, out, _ := cli(t, []string{"AMATERS_AUTH_JWT_SECRET=" + strings.Repeat("k", 48)}, "validate-config", "--config", path)
	if code != 0 {
		t.Fatalf("the ConfigMap's config.toml is invalid:\n%s", out)
	}
}

// TestPrometheusScrapes runs a real Prometheus (Debian package prometheus,
// installed by .ci/run) against the server: the target must be up and the
// server's series queryable.
func TestPrometheusScrapes(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed and CI is set (.ci/run installs it)")
		}
		t.Skip("prometheus not installed (apt-get install prometheus); CI runs this test")
	}
	d := startDaemon(t)
	dir := t.TempDir()
	promPort := freePort(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: amaters\n    static_configs:\n      - targets: [%q]\n", strings.TrimPrefix(d.health, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	}()
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", promPort)
	get := func(path string) string {
		resp, err := http.Get(api + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	waitFor(t, "the target to be up with no scrape error", func() bool {
		body := get("targets")
		return strings.Contains(body, `"health":"up"`) && strings.Contains(body, `"lastError":""`)
	})
	waitFor(t, "amaters_build_info in Prometheus", func() bool {
		return strings.Contains(get("query?query=amaters_build_info"), `"version":"0.3.0"`)
	})
	if body := get("query?query=up"); !strings.Contains(body, `"1"]`) {
		t.Errorf("up is not 1: %s", body)
	}
}

// TestKillLoopLosesNoAcknowledgedWrite is the SIGKILL crash loop: writers
// with sync = "always" run while the server is killed at a random moment,
// 30 times; after every restart each acknowledged write (and acknowledged
// delete) must be there, whatever was in flight.
func TestKillLoopLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("30 kill cycles")
	}
	data := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, "[storage]\nsync = \"always\"\nmemtable_size_mb = 1\n[middleware]\nrate_limit_rps = 0\n[cache]\nmax_entries = 0\n")
	args := []string{"--config", cfg, "--engine", "lsm", "--data-dir", data}
	acked := map[string]string{} // key → value; "" = acknowledged delete
	pendingDelete := map[string]bool{}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	total := 0
	for cycle := range 30 {
		d := startDaemon(t, args...)
		verifyAcked(t, d, acked, pendingDelete)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				client := &http.Client{Timeout: 5 * time.Second}
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("c%02d-w%d-%05d", cycle, w, n)
					value := fmt.Sprintf("v-%s", key)
					req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/kill/keys/"+key, strings.NewReader(value))
					method := "PUT"
					if n%10 == 9 { // delete this writer's previous key
						key = fmt.Sprintf("c%02d-w%d-%05d", cycle, w, n-1)
						req, _ = http.NewRequest("DELETE", "http://"+d.api+"/v1/collections/kill/keys/"+key, nil)
						method = "DELETE"
						// Until answered, the delete may or may not happen.
						mu.Lock()
						pendingDelete[key] = true
						mu.Unlock()
					}
					resp, err := client.Do(req)
					if err != nil {
						return // the server was killed
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 204 {
						mu.Lock()
						if method == "DELETE" {
							acked[key] = ""
						} else {
							acked[key] = value
						}
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		d.cmd.Process.Kill()
		close(stop)
		wg.Wait()
		d.wait(t, 10*time.Second)
		total = len(acked)
	}
	d := startDaemon(t, args...)
	verifyAcked(t, d, acked, pendingDelete)
	t.Logf("30 kill cycles, %d acknowledged writes and deletes, all intact", total)
}

// verifyAcked checks that every acknowledged write is present and every
// acknowledged delete absent, by scanning the collection. A delete that was
// sent but not answered may have happened or not; once seen, its outcome is
// recorded in acked.
func verifyAcked(t *testing.T, d *daemon, acked map[string]string, pendingDelete map[string]bool) {
	t.Helper()
	present := scanCollection(t, d, "kill")
	for k, v := range acked {
		got, ok := present[k]
		switch {
		case v == "" && ok:
			t.Fatalf("acknowledged delete of %s came back after a kill", k)
		case v != "" && !ok && pendingDelete[k]:
			acked[k] = "" // the unanswered delete happened
		case v != "" && got != v:
			t.Fatalf("acknowledged write %s = %q after a kill, want %q", k, got, v)
		}
		delete(pendingDelete, k)
	}
	for k, v := range present {
		if want := "v-" + k; v != want {
			t.Fatalf("key %s holds %q: torn or foreign value", k, v)
		}
	}
}

// TestCorruptFilesRefusedAtStart damages the data folder of a stopped
// server: a flipped byte inside the write-ahead log (not its torn tail) or
// the manifest makes start fail with the file and offset, and a damaged
// table is an error at read time, never a wrong value.
// damageValue is key i's value in TestCorruptFilesRefusedAtStart: 200
// bytes that do not compress, so that the table's data blocks fill the
// file and a byte flipped in the middle lands in one.
func damageValue(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 1))
	b := make([]byte, 200)
	for j := range b {
		b[j] = byte('!' + r.IntN(94))
	}
	return string(b)
}

func TestCorruptFilesRefusedAtStart(t *testing.T) {
	setup := func(t *testing.T, kill bool) string {
		data := filepath.Join(t.TempDir(), "data")
		args := []string{"--engine", "lsm", "--data-dir", data}
		d := startDaemon(t, args...)
		client := &http.Client{}
		for i := range 300 {
			req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/collections/c/keys/key-%04d", d.api, i), strings.NewReader(damageValue(i)))
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != 204 {
				t.Fatalf("PUT: %v %v", resp, err)
			}
			resp.Body.Close()
		}
		if kill {
			d.cmd.Process.Kill() // the data stays in the WAL
		} else {
			d.cmd.Process.Signal(syscall.SIGTERM) // the memtable goes to a table
		}
		d.wait(t, 20*time.Second)
		return data
	}
	flip := func(t *testing.T, pattern string, where func(size int64) int64) string {
		files, _ := filepath.Glob(pattern)
		// The last file with data: the engine may have created the next
		// log ahead of need, empty or all zeroes.
		files = slices.DeleteFunc(files, func(f string) bool {
			b, err := os.ReadFile(f)
			return err == nil && !slices.ContainsFunc(b, func(c byte) bool { return c != 0 })
		})
		if len(files) == 0 {
			t.Fatalf("no file with data matches %s", pattern)
		}
		f := files[len(files)-1]
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[where(int64(len(b)))] ^= 0x5a
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	start := func(data string) (int, string) {
		code, _, errOut := cli(t, nil, "start", "--engine", "lsm", "--data-dir", data,
			"--bind", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--health-port", strconv.Itoa(freePort(t)))
		return code, errOut
	}
	t.Run("wal", func(t *testing.T) {
		data := setup(t, true)
		f := flip(t, filepath.Join(data, "wal", "*.log"), func(n int64) int64 { return n / 3 })
		code, errOut := start(data)
		if code != 1 || !strings.Contains(errOut, filepath.Base(f)) || !strings.Contains(errOut, "offset") || !strings.Contains(errOut, "restore") {
			t.Fatalf("start on a damaged WAL: exit %d\n%s", code, errOut)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		data := setup(t, false)
		f := flip(t, filepath.Join(data, "db", "MANIFEST-*"), func(n int64) int64 { return n / 2 })
		code, errOut := start(data)
		if code != 1 || !strings.Contains(errOut, filepath.Base(f)) || !strings.Contains(errOut, "offset") {
			t.Fatalf("start on a damaged manifest: exit %d\n%s", code, errOut)
		}
	})
	t.Run("table-bounds", func(t *testing.T) {
		data := setup(t, false)
		f := flip(t, filepath.Join(data, "db", "*.sst"), func(n int64) int64 { return 100 })
		code, errOut := start(data)
		if code != 1 || !strings.Contains(errOut, filepath.Base(f)) || !strings.Contains(errOut, "restore") {
			t.Fatalf("start on a table with a damaged first block: exit %d\n%s", code, errOut)
		}
	})
	t.Run("table", func(t *testing.T) {
		data := setup(t, false)
		// A block in the middle, inside key-0150's value (stored as it
		// is: it does not compress), in the data and in the change
		// history alike: Open reads a table's first and last blocks (its
		// bounds), so damage there refuses the start instead.
		tables, _ := filepath.Glob(filepath.Join(data, "db", "*.sst"))
		flipped := 0
		for _, f := range tables {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; ; {
				i := bytes.Index(b[off:], []byte(damageValue(150)))
				if i < 0 {
					break
				}
				b[off+i+100] ^= 0x10
				off += i + 200
				flipped++
			}
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if flipped == 0 {
			t.Fatal("key-0150's value is in no table")
		}
		d := startDaemon(t, "--engine", "lsm", "--data-dir", data, "--config", writeConfig(t, "[cache]\nmax_entries = 0\n"))
		bad := 0
		for i := range 300 {
			resp, err := http.Get(fmt.Sprintf("http://%s/v1/collections/c/keys/key-%04d", d.api, i))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200 && string(body) == damageValue(i):
			case resp.StatusCode == 500 && strings.Contains(string(body), `"internal"`):
				bad++
			default:
				t.Fatalf("key-%04d: %d %q: a wrong answer from a damaged table", i, resp.StatusCode, body)
			}
		}
		if bad == 0 {
			t.Fatal("the damaged block was never noticed")
		}
	})
}

// TestSigtermUnderLoadLosesNothing stops the server with SIGTERM while
// writers run: it exits 0, and after a restart every acknowledged write is
// there.
func TestSigtermUnderLoadLosesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--engine", "lsm", "--data-dir", data, "--config", writeConfig(t, "[middleware]\nrate_limit_rps = 0\n")}
	d := startDaemon(t, args...)
	acked := map[string]string{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%06d", w, n)
				req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/kill/keys/"+key, strings.NewReader("v-"+key))
				resp, err := client.Do(req)
				if err != nil {
					return // the listener closed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 204 {
					mu.Lock()
					acked[key] = "v-" + key
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM under load", code)
	}
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	d = startDaemon(t, args...)
	verifyAcked(t, d, acked, map[string]bool{})
}

// TestAbuseDoesNotStarveClients opens 1000 connections that never finish
// their headers, sends oversized headers and a flood of bad tokens, and
// checks that an authenticated client is served throughout, with memory
// bounded.
func TestAbuseDoesNotStarveClients(t *testing.T) {
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("good-key"))
	keys := filepath.Join(dir, "keys.json")
	os.WriteFile(keys, []byte(fmt.Sprintf(`[{"id":"k","key_hash":%q,"user_id":"app","roles":["admin"]}]`, base64.StdEncoding.EncodeToString(sum[:]))), 0o600)
	// A rate limit the flood below spends at any speed it can run at
	// (with the default 1000/s, a flood slowed down by -race on 2 cores
	// earned its tokens back as fast as it spent them).
	d := startDaemon(t, "--config", writeConfig(t, fmt.Sprintf("[auth]\napi_keys_file = %q\n[network]\nmax_connections = 1500\nread_header_timeout_ms = 3000\n[middleware]\nrate_limit_rps = 10\nrate_limit_burst = 100\n", keys)))
	client := &http.Client{Timeout: 5 * time.Second}
	legit := func() {
		t.Helper()
		req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/c/keys/k", strings.NewReader("v"))
		req.Header.Set("X-API-Key", "good-key")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("a legitimate client was not served: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	rss := func() float64 {
		resp, err := http.Get(d.health + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^process_resident_memory_bytes (\S+)`).FindSubmatch(body)
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	before := rss()
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	// The attacker is another address (of 127.0.0.0/8) than the
	// legitimate client: network.max_connections_per_ip holds it to 256.
	attacker := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	for range 1000 {
		c, err := attacker.Dial("tcp", d.api)
		if err != nil {
			t.Fatalf("slow connection: %v", err)
		}
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n")
		slow = append(slow, c)
	}
	legit()
	// Oversized headers get 431.
	req, _ := http.NewRequest("GET", "http://"+d.api+"/v1/status", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 1<<20))
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 431 {
		t.Errorf("oversized headers: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A flood of bad credentials: 401, then 429 once the address's burst is spent.
	codes := map[int]int{}
	for i := range 2000 {
		req, _ := http.NewRequest("GET", "http://"+d.api+"/v1/status", nil)
		req.Header.Set("X-API-Key", fmt.Sprintf("guess-%d", i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[401]+codes[429] != 2000 || codes[429] == 0 {
		t.Errorf("bad-token flood answered %v, want only 401 then 429", codes)
	}
	legit()
	if grew := rss() - before; grew > 100<<20 {
		t.Errorf("resident memory grew %.0f MiB under abuse", grew/(1<<20))
	}
}

// TestProtectedModeAcrossANetwork makes a network namespace joined by a
// veth pair, runs the server without authentication on the host side, and
// calls it from the namespace: refused with 403 and the explanation, and
// served once auth.allow_anonymous = true. It needs root and iproute2.
func TestProtectedModeAcrossANetwork(t *testing.T) {
	ipTool, err := exec.LookPath("ip")
	curl, cerr := exec.LookPath("curl")
	if err != nil || cerr != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run this test as root with ip (iproute2) and curl: %v %v uid %d", err, cerr, os.Geteuid())
		}
		t.Skip("needs root, ip and curl; CI runs it")
	}
	id := os.Getpid() % 10000
	ns, hostIf, nsIf := fmt.Sprintf("amaters%d", id), fmt.Sprintf("amh%d", id), fmt.Sprintf("amn%d", id)
	subnet := fmt.Sprintf("10.%d.%d", 200+id%50, id%250)
	hostIP, nsIP := subnet+".1", subnet+".2"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command(ipTool, "link", "del", hostIf).Run()
		exec.Command(ipTool, "netns", "del", ns).Run()
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run("link", "set", nsIf, "netns", ns)
	run("addr", "add", hostIP+"/24", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("netns", "exec", ns, "ip", "addr", "add", nsIP+"/24", "dev", nsIf)
	run("netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run("netns", "exec", ns, "ip", "link", "set", "lo", "up")

	for _, tc := range []struct {
		name, config string
		want         int
	}{
		{"protected", "", 403},
		{"allow_anonymous", "[auth]\nallow_anonymous = true\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			hp := freePort(t)
			cmd := exec.Command(binary, "start", "--engine", "memory", "--data-dir", filepath.Join(t.TempDir(), "d"),
				"--bind", fmt.Sprintf("%s:%d", hostIP, port), "--health-port", strconv.Itoa(hp), "--config", writeConfig(t, tc.config))
			var logs bytes.Buffer
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			waitFor(t, "the server", func() bool {
				resp, err := http.Get(fmt.Sprintf("http://%s:%d/readyz", hostIP, hp))
				if err == nil {
					resp.Body.Close()
				}
				return err == nil && resp.StatusCode == 200
			})
			out, err := exec.Command(ipTool, "netns", "exec", ns, curl, "-s", "-m", "10", "-w", "\n%{http_code}",
				fmt.Sprintf("http://%s:%d/v1/status", hostIP, port)).CombinedOutput()
			if err != nil {
				t.Fatalf("curl from the namespace: %v\n%s\n%s", err, out, logs.String())
			}
			text := strings.TrimSpace(string(out))
			i := strings.LastIndexByte(text, '\n')
			body, code := text[:max(i, 0)], text[i+1:]
			if code != strconv.Itoa(tc.want) {
				t.Fatalf("a peer at %s got %s, want %d: %s", nsIP, code, tc.want, body)
			}
			if tc.want == 403 && (!strings.Contains(body, "protected mode") || !strings.Contains(body, "allow_anonymous")) {
				t.Fatalf("the refusal does not explain itself: %s", body)
			}
		})
	}
}

// scanCollection reads a whole collection through range paging.
func scanCollection(t *testing.T, d *daemon, collection string) map[string]string {
	t.Helper()
	out := map[string]string{}
	next := ""
	for {
		resp, err := http.Get("http://" + d.api + "/v1/collections/" + collection + "/range?limit=10000" + next)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct{ Key, Value []byte }
			More  bool
			Next  []byte
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			out[string(it.Key)] = string(it.Value)
		}
		if !page.More {
			return out
		}
		next = "&next=" + url.QueryEscape(base64.StdEncoding.EncodeToString(page.Next))
	}
}

func TestBenchSubcommand(t *testing.T) {
	d := startDaemon(t, "--config", writeConfig(t, "[middleware]\nrate_limit_rps = 0\n"))
	code, out, errOut := cli(t, nil, "bench", "--addr", d.api, "--requests", "3000", "--keys", "500", "--clients", "8", "--workload", "mixed:80/20", "--format", "json")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Ops, Errors int64
		Latency     struct {
			P99 float64 `json:"p99_ms"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Ops != 3000 || res.Errors != 0 || res.Latency.P99 <= 0 {
		t.Fatalf("bench result %+v (%v):\n%s", res, err, out)
	}
	if code, _, errOut := cli(t, nil, "bench", "--addr", d.api, "--workload", "mixed:90/20"); code != 2 || !strings.Contains(errOut, "100") {
		t.Errorf("bad workload: exit %d %q", code, errOut)
	}
	// Values that loadgen would read as "the default" are refused, before
	// anything is sent.
	for _, bad := range [][]string{{"--clients", "0"}, {"--keys", "0"}, {"--value-size", "0"}, {"--batch-size", "0"}, {"--requests", "0"}, {"--duration", "0s"}, {"--clients", "-3"}} {
		args := append([]string{"bench", "--addr", d.api}, bad...)
		if code, _, errOut := cli(t, nil, args...); code != 2 || !strings.Contains(errOut, bad[0]) {
			t.Errorf("%v: exit %d %q, want 2 naming the flag", bad, code, errOut)
		}
	}
	// Without --collection the load goes into a new collection, named
	// before the run starts.
	code, _, errOut = cli(t, nil, "bench", "--addr", d.api, "--requests", "10", "--keys", "20", "--workload", "get")
	if code != 0 || !regexp.MustCompile(`bench: preloading 20 keys into, then reading from, collection "bench-[0-9]{8}-[0-9]{6}" at `).MatchString(errOut) {
		t.Errorf("bench without --collection: %d %q", code, errOut)
	}
	// The collection given is the one loaded; "bench", the old default,
	// was not.
	if code, _, errOut := cli(t, nil, "bench", "--addr", d.api, "--requests", "10", "--keys", "20", "--collection", "named"); code != 0 || !strings.Contains(errOut, `collection "named"`) {
		t.Errorf("bench --collection named: %d %q", code, errOut)
	}
	for c, want := range map[string]int{"named": 200, "bench": 404} {
		resp, err := http.Get("http://" + d.api + "/v1/collections/" + c + "/keys/key-00000000")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("key 0 of collection %q: %d, want %d", c, resp.StatusCode, want)
		}
	}
	// The human form.
	if code, out, _ := cli(t, nil, "bench", "--addr", d.api, "--requests", "10", "--workload", "put"); code != 0 || !strings.Contains(out, "ops") {
		t.Errorf("human output: exit %d %q", code, out)
	}
}

// TestDiskFull puts the data folder (then only the WAL folder) on a 16 MiB
// tmpfs that also holds a 10 MiB ballast file, and writes until the disk is
// full: writes get 507 insufficient_storage, never 500; what was
// acknowledged before reads back; /health says why. Then the ballast is
// deleted: writes succeed again without a restart, /health recovers, and
// after a SIGKILL and a restart every acknowledged write is there. Needs
// root.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test as root (it mounts a tmpfs)")
		}
		t.Skip("needs root to mount a tmpfs; CI runs it")
	}
	mount := func(t *testing.T) string {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("mount tmpfs: %v %s", err, out)
			}
			t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
		if err := os.WriteFile(filepath.Join(mnt, "ballast"), make([]byte, 10<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		return mnt
	}
	t.Run("data folder", func(t *testing.T) {
		mnt := mount(t)
		diskFull(t, mnt, filepath.Join(mnt, "data"), "memtable_size_mb = 1\n")
	})
	t.Run("data folder, sync none", func(t *testing.T) {
		// The log is appended through a mapping of fallocated space:
		// a full disk shows at reservation, as a refused write.
		mnt := mount(t)
		diskFull(t, mnt, filepath.Join(mnt, "data"), "memtable_size_mb = 1\nsync = \"none\"\n")
	})
	t.Run("wal folder", func(t *testing.T) {
		// A memtable larger than the WAL's disk, so that its log fills it.
		mnt := mount(t)
		diskFull(t, mnt, filepath.Join(t.TempDir(), "data"), "memtable_size_mb = 16\nwal_dir = \""+filepath.Join(mnt, "wal")+"\"\n")
	})
	t.Run("stop and start while full", func(t *testing.T) {
		mnt := mount(t)
		diskFullRestart = true
		defer func() { diskFullRestart = false }()
		diskFull(t, mnt, filepath.Join(mnt, "data"), "memtable_size_mb = 1\n")
	})
}

// diskFullRestart makes diskFull stop the server while the disk is full
// (a clean exit: the log keeps what could not be flushed), see a start
// refused with a message saying what to do, then free space and start.
var diskFullRestart bool

func diskFull(t *testing.T, mnt, data, storage string) {
	args := []string{"--engine", "lsm", "--data-dir", data,
		"--config", writeConfig(t, "[storage]\n"+storage+"[middleware]\nrate_limit_rps = 0\n[audit]\nenabled = false\n")}
	d := startDaemon(t, args...)
	client := &http.Client{Timeout: 10 * time.Second}
	// Incompressible: tables compress their blocks.
	rb := make([]byte, 8<<10)
	for i := range rb {
		rb[i] = byte(rand.Uint32())
	}
	value := string(rb)
	acked := map[string]bool{}
	put := func(key string) (int, string) {
		req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/c/keys/"+key, strings.NewReader(value))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 204 {
			acked[key] = true
		}
		return resp.StatusCode, string(body)
	}
	health := func() (int, string) {
		resp, err := http.Get(d.health + "/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// Write until ten writes in a row are refused: while the disk fills,
	// a refused write is taken back, so one that is smaller or comes
	// after a freed log may still fit.
	refused := 0
	for i := 0; i < 3000 && refused < 10; i++ {
		switch code, body := put(fmt.Sprintf("k%05d", i)); code {
		case 204:
			refused = 0
		case 507:
			if !strings.Contains(body, "insufficient_storage") {
				t.Fatalf("507 without its code: %s", body)
			}
			refused++
		default:
			t.Fatalf("write %d on a filling disk: %d %s", i, code, body)
		}
	}
	if refused < 10 || len(acked) == 0 {
		t.Fatalf("the disk never filled (%d writes acknowledged)", len(acked))
	}
	// Reads go on.
	for k := range acked {
		resp, err := client.Get("http://" + d.api + "/v1/collections/c/keys/" + k)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != value {
			t.Fatalf("acknowledged key %s after the disk filled: %d (%d bytes)", k, resp.StatusCode, len(body))
		}
	}
	if code, body := health(); code != 503 || !strings.Contains(body, "disk full") {
		t.Fatalf("/health on a full disk: %d %s", code, body)
	}
	if r, err := http.Get(d.health + "/livez"); err != nil || r.StatusCode != 200 {
		t.Fatalf("livez on a full disk: %v %v", r, err)
	}
	if diskFullRestart {
		d.cmd.Process.Signal(syscall.SIGTERM)
		if code := d.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("SIGTERM on a full disk: exit %d, want 0 (nothing is lost)\n%s", code, d.logs)
		}
		// Whether a memtable is left unflushed depends on where the
		// disk filled: the last flush may have fit, and the refused
		// writes left the memtable empty. When one is left, the log
		// says so; either way the start below needs room (a new log and
		// manifest) and every acknowledged write survives.
		if !strings.Contains(d.logs.String(), "memtable not flushed at shutdown") {
			t.Logf("the shutdown flushed everything (no unflushed memtable to explain)")
		}
		code, _, errOut := cli(t, nil, append([]string{"start", "--bind", "127.0.0.1:0", "--health-port", "0"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "the disk is full") || !strings.Contains(errOut, "free space") {
			t.Fatalf("start on a full disk: exit %d\n%s", code, errOut)
		}
		if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
			t.Fatal(err)
		}
		d = startDaemon(t, args...)
		present := scanCollection(t, d, "c")
		for k := range acked {
			if present[k] != value {
				t.Fatalf("acknowledged %s missing after a stop and start on a full disk (%d bytes)", k, len(present[k]))
			}
		}
		t.Logf("%d acknowledged writes intact after a stop on a full disk", len(acked))
		return
	}

	// Free space: writes and /health recover without a restart (a
	// paused flush retries within 2 s).
	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	ok := 0
	waitFor(t, "writes to succeed after space was freed", func() bool {
		if code, _ := put(fmt.Sprintf("after%03d", ok)); code == 204 {
			ok++
		}
		return ok >= 20
	})
	waitFor(t, "/health to recover after space was freed", func() bool {
		code, _ := health()
		return code == 200
	})

	// Nothing acknowledged is lost, before or after the full disk.
	d.cmd.Process.Kill()
	d.wait(t, 10*time.Second)
	d = startDaemon(t, args...)
	present := scanCollection(t, d, "c")
	for k := range acked {
		if present[k] != value {
			t.Fatalf("acknowledged %s missing after the disk-full episode and a SIGKILL (%d bytes)", k, len(present[k]))
		}
	}
	t.Logf("%d acknowledged writes intact, %d of them after space was freed", len(acked), ok)
}

// TestUsageShowsNoSecrets: the credentials from the environment are not
// flag defaults, which -h and every usage error would print.
func TestUsageShowsNoSecrets(t *testing.T) {
	env := []string{"AMATERS_TOKEN=eyJSECRETTOKEN", "AMATERS_API_KEY=supersecretkey"}
	for _, cmd := range []string{"status", "stop", "bench", "backup"} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--bogus"}} {
			_, out, errOut := cli(t, env, args...)
			if strings.Contains(out+errOut, "SECRET") || strings.Contains(out+errOut, "supersecret") {
				t.Errorf("%v prints a credential from the environment:\n%s%s", args, out, errOut)
			}
		}
	}
}

// TestStatusTimeout: a server that accepts connections and never answers
// does not hold status beyond --timeout (it took the retries' worth of
// 10 s request timeouts, about 51 s).
func TestStatusTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	// Killed after 20 s: far more than --timeout 1s needs, far less than
	// the 51 s a status that ignored it takes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "status", "--addr", ln.Addr().String(), "--timeout", "1s").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "not reachable") {
		t.Errorf("status of a server that never answers: %v (want exit 1 well before it is killed)\n%s", err, out)
	}
}
