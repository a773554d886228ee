package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"amaters-server/server/loadgen"
)

func cmdBench(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "--addr HOST:PORT [flags]")
	var cf clientFlags
	cf.register(fs, env)
	o := loadgen.Options{}
	fs.IntVar(&o.Clients, "clients", 64, "concurrent clients, each on its own kept-alive connection")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to run (default 10s when --requests is not given)")
	fs.IntVar(&o.Requests, "requests", 0, "how many requests to send in all (0 = bounded by --duration)")
	workload := fs.String("workload", "get", "`workload`: get, put, mixed:R/W (e.g. mixed:90/10), range or batch")
	fs.IntVar(&o.Keys, "keys", 100000, "size of the key set (preloaded for reads)")
	fs.IntVar(&o.ValueSize, "value-size", 100, "value size in bytes")
	fs.StringVar(&o.Collection, "collection", "", "collection to write (and preload) into (default a new one, bench-<time>)")
	fs.IntVar(&o.BatchSize, "batch-size", 100, "ops per batch for --workload batch")
	format := formatFlag(fs)
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	o.Addr, o.Client, o.Workload = cf.addr, cf.options(), *workload
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// A target other than loopback only when the address was typed.
	o.AddrExplicit = given["addr"]
	if err := checkFormat("bench", *format); err != nil {
		return err
	}
	// loadgen reads 0 as "the default"; on the command line a 0 is a
	// mistake, not a request for 64 clients or 100 000 keys.
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"clients", o.Clients, 1}, {"keys", o.Keys, 1}, {"value-size", o.ValueSize, 1}, {"batch-size", o.BatchSize, 1}, {"requests", o.Requests, 0}} {
		if c.v < c.min {
			return usagef("amaters-server bench: --%s %d: must be at least %d", c.name, c.v, c.min)
		}
	}
	if given["duration"] && o.Duration <= 0 {
		return usagef("amaters-server bench: --duration %v: must be positive", o.Duration)
	}
	if given["requests"] && o.Requests == 0 {
		return usagef("amaters-server bench: --requests 0: must be at least 1")
	}
	// Writes (and a read workload's preload) go only into a collection
	// the run names: the one given, else a new one.
	if o.Collection == "" {
		o.Collection = "bench-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := o.Validate(); err != nil {
		return usagef("amaters-server bench: %v", err)
	}
	// Say where the load goes before it starts.
	wl, _ := loadgen.ParseWorkload(o.Workload)
	what := "writing into"
	switch {
	case wl.ReadPercent == 100:
		what = fmt.Sprintf("preloading %d keys into, then reading from,", o.Keys)
	case wl.ReadPercent > 0:
		what = fmt.Sprintf("preloading %d keys into, then reading and writing,", o.Keys)
	}
	fmt.Fprintf(stderr, "bench: %s collection %q at %s\n", what, o.Collection, o.Addr)
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		return asJSON(fmt.Errorf("amaters-server bench: %w", err), *format, stdout)
	}
	if *format == "json" {
		out, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		res.WriteHuman(stdout)
	}
	if res.Ops == 0 {
		return errReported
	}
	return nil
}
