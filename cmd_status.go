package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"amaters-server/server/client"
)

func cmdStatus(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "--addr HOST:PORT [--format human|json] [--timeout 15s] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	format := formatFlag(fs)
	timeout := fs.Duration("timeout", 15*time.Second, "how long to try, retries included")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *timeout <= 0 {
		return usagef("amaters-server status: --timeout must be positive")
	}
	if err := checkFormat("status", *format); err != nil {
		return err
	}
	return asJSON(status(ctx, &cf, *format, *timeout, stdout), *format, stdout)
}

func status(ctx context.Context, cf *clientFlags, format string, timeout time.Duration, stdout io.Writer) error {
	// A server that accepts connections and never answers must not hold a
	// health check for the retries' worth of per-request timeouts.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server status: %v", err)
	}
	// A refused connection is an answer: nothing runs there. Only resets,
	// timeouts and busy answers are retried.
	if refused(ctx, c.HostPort()) {
		return &cliError{"not_running", fmt.Errorf("amaters-server status: %s is not reachable: connection refused (no server runs there)", cf.addr)}
	}
	resp, err := c.Do(ctx, "GET", "/v1/status", nil)
	if err != nil {
		return &cliError{"unreachable", fmt.Errorf("amaters-server status: %s is not reachable: %w", cf.addr, err)}
	}
	if resp.Status != 200 {
		return &cliError{"refused", fmt.Errorf("amaters-server status: %s answered %d: %s", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))}
	}
	var st client.Status
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		return fmt.Errorf("amaters-server status: %s answered something that is not a status: %w", cf.addr, err)
	}
	if format == "json" {
		stdout.Write(resp.Body)
	} else {
		fmt.Fprintf(stdout, "%s %s at %s: %s (engine %s, up %s, %d connections)\n",
			st.Name, st.Version, cf.addr, st.State, st.Engine,
			time.Duration(st.UptimeSeconds)*time.Second, st.Connections)
	}
	if st.State != "serving" {
		return errReported
	}
	return nil
}
