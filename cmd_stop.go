package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"amaters-server/server/client"
)

func cmdStop(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stop", "--addr HOST:PORT [--timeout 30s] [--format human|json] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the server to stop")
	format := formatFlag(fs)
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *timeout <= 0 {
		return usagef("amaters-server stop: --timeout must be positive")
	}
	if err := checkFormat("stop", *format); err != nil {
		return err
	}
	return asJSON(stop(ctx, &cf, *timeout, *format, stdout), *format, stdout)
}

// stopResult is what stop --format json prints.
type stopResult struct {
	Addr string `json:"addr"`
	// WasRunning is false when nothing listened at Addr: stop had nothing
	// to do, and succeeds (like systemctl stop).
	WasRunning bool `json:"was_running"`
	Stopped    bool `json:"stopped"`
}

func stop(ctx context.Context, cf *clientFlags, timeout time.Duration, format string, stdout io.Writer) error {
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	say := func(r stopResult, human string) {
		if format == "json" {
			out, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", out)
		} else {
			fmt.Fprintln(stdout, human)
		}
	}
	// A refused connection means no server runs there: the goal of stop
	// is met (exit 0, as systemctl stop of a stopped unit).
	if refused(ctx, c.HostPort()) {
		say(stopResult{Addr: cf.addr, Stopped: true}, fmt.Sprintf("amaters-server at %s is not running (connection refused); nothing to stop", cf.addr))
		return nil
	}
	resp, err := c.Do(ctx, "POST", "/v1/admin/shutdown", nil)
	if err != nil {
		return &cliError{"unreachable", fmt.Errorf("amaters-server stop: %s is not reachable: %w", cf.addr, err)}
	}
	if resp.Status != 202 {
		return &cliError{"refused", fmt.Errorf("amaters-server stop: %s refused: %d %s", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))}
	}
	// The API port closes first, when the drain starts; the health port
	// when the storage is closed, just before the process exits. Wait for
	// both, so that `stop && start` finds the data folder free. (The
	// health port is waited for only when it answers from here: behind a
	// port forward it may not.)
	healthAddr := ""
	if host, _, err := net.SplitHostPort(c.HostPort()); err == nil && resp.Header.Get(client.HealthPortHeader) != "" {
		healthAddr = net.JoinHostPort(host, resp.Header.Get(client.HealthPortHeader))
		if conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", healthAddr); err != nil {
			healthAddr = ""
		} else {
			conn.Close()
		}
	}
	if err := client.WaitDown(ctx, c.HostPort()); err != nil {
		return &cliError{"timeout", fmt.Errorf("amaters-server stop: %s still answers after %s", cf.addr, timeout)}
	}
	if healthAddr != "" {
		if err := client.WaitDown(ctx, healthAddr); err != nil {
			return &cliError{"timeout", fmt.Errorf("amaters-server stop: %s stopped serving, but is still finishing (its health port %s answers) after %s", cf.addr, healthAddr, timeout)}
		}
	}
	say(stopResult{Addr: cf.addr, WasRunning: true, Stopped: true}, fmt.Sprintf("amaters-server at %s stopped", cf.addr))
	return nil
}
