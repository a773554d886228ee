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
	fs.StringVar(&o.Collection, "collection", "bench", "collection to use")
	fs.IntVar(&o.BatchSize, "batch-size", 100, "ops per batch for --workload batch")
	format := fs.String("format", "human", "output `format`: human or json")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	o.Addr, o.Client, o.Workload = cf.addr, cf.options(), *workload
	// A target other than loopback only when the address was typed.
	fs.Visit(func(f *flag.Flag) { o.AddrExplicit = o.AddrExplicit || f.Name == "addr" })
	if *format != "human" && *format != "json" {
		return usagef("amaters-server bench: --format must be human or json")
	}
	if err := o.Validate(); err != nil {
		return usagef("amaters-server bench: %v", err)
	}
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("amaters-server bench: %w", err)
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
