package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"amaters-server/server/client"
)

func cmdStop(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stop", "--addr HOST:PORT [--timeout 30s] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the server to stop")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := c.Do(ctx, "POST", "/v1/admin/shutdown", nil)
	if err != nil {
		return fmt.Errorf("amaters-server stop: %s is not reachable: %w", cf.addr, err)
	}
	if resp.Status != 202 {
		return fmt.Errorf("amaters-server stop: %s refused: %d %s", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))
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
		return fmt.Errorf("amaters-server stop: %s still answers after %s", cf.addr, *timeout)
	}
	if healthAddr != "" {
		if err := client.WaitDown(ctx, healthAddr); err != nil {
			return fmt.Errorf("amaters-server stop: %s stopped serving, but is still finishing (its health port %s answers) after %s", cf.addr, healthAddr, *timeout)
		}
	}
	fmt.Fprintf(stdout, "amaters-server at %s stopped\n", cf.addr)
	return nil
}
