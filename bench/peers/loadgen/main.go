// Command loadgen drives one target with amaters-server's own load
// generator (loadgen.Run, the engine of `amaters-server bench`) and
// prints the result. bench/peers/run.sh uses it for every HTTP row of its
// table, so that amaters-server, the bare net/http handler and etcd's JSON
// gateway are all measured by the same client with the same settings.
//
// Usage:
//
//	loadgen -addr 127.0.0.1:7878 [-target amaters|bare|etcd] [-workload get]
//	        [-clients 64] [-duration 10s | -requests N] [-keys 100000]
//	        [-value-size 100] [-collection bench] [-batch-size 100]
//	        [-format human|json|tsv] [-nethttp] [-cpuprofile FILE]
//
// The tsv format is one line: ops/s, p99 in milliseconds, errors, ops.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"amaters-server/server/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.Options
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:7878", "target HOST:PORT or URL")
	fs.StringVar(&o.Target, "target", loadgen.TargetAmaters, "amaters, bare or etcd")
	fs.StringVar(&o.Workload, "workload", "get", "get, put, mixed:R/W, range or batch")
	fs.IntVar(&o.Clients, "clients", 64, "concurrent connections")
	fs.DurationVar(&o.Duration, "duration", 0, "run time (default 10s when -requests is not given)")
	fs.IntVar(&o.Requests, "requests", 0, "number of requests")
	fs.IntVar(&o.Keys, "keys", 100000, "key space")
	fs.IntVar(&o.ValueSize, "value-size", 100, "value size in bytes")
	fs.StringVar(&o.Collection, "collection", "bench", "collection")
	fs.IntVar(&o.BatchSize, "batch-size", 100, "sets per batch request")
	format := fs.String("format", "human", "human, json or tsv")
	fs.BoolVar(&o.UseNetHTTP, "nethttp", false, "send through net/http's client instead of the lighter built-in HTTP/1.1")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch *format {
	case "human", "json", "tsv":
	default:
		fmt.Fprintf(stderr, "loadgen: -format %q: want human, json or tsv\n", *format)
		return 2
	}
	o.AddrExplicit = true
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil && res.Ops == 0 {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	switch *format {
	case "json":
		data, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", data)
	case "tsv":
		fmt.Fprintf(stdout, "%.0f\t%.3f\t%d\t%d\n", res.OpsPerSec, float64(res.Latency.P99.Microseconds())/1000, res.Errors, res.Ops)
	default:
		res.WriteHuman(stdout)
	}
	if res.Errors > 0 {
		fmt.Fprintf(stderr, "loadgen: %d errors; first: %s\n", res.Errors, res.FirstError)
	}
	if err != nil {
		return 1
	}
	return 0
}
