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
	format := fs.String("format", "human", "output `format`: human or json")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to try, retries included")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *timeout <= 0 {
		return usagef("amaters-server status: --timeout must be positive")
	}
	// A server that accepts connections and never answers must not hold a
	// health check for the retries' worth of per-request timeouts.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *format != "human" && *format != "json" {
		return usagef("amaters-server status: --format must be human or json")
	}
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server status: %v", err)
	}
	resp, err := c.Do(ctx, "GET", "/v1/status", nil)
	if err != nil {
		return fmt.Errorf("amaters-server status: %s is not reachable: %w", cf.addr, err)
	}
	if resp.Status != 200 {
		return fmt.Errorf("amaters-server status: %s answered %d: %s", cf.addr, resp.Status, strings.TrimSpace(string(resp.Body)))
	}
	var st client.Status
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		return fmt.Errorf("amaters-server status: %s answered something that is not a status: %w", cf.addr, err)
	}
	if *format == "json" {
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
