package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"amaters-server/server/backup"
	"amaters-server/server/client"
)

func cmdBackup(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", "--addr HOST:PORT --out FILE [--timeout 1m] [--format human|json] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	out := fs.String("out", "", "backup `file` to write; must not exist (FILE.partial is written first)")
	timeout := fs.Duration("timeout", time.Minute, "give up when the server sends nothing for this long")
	format := formatFlag(fs)
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *out == "" || *timeout <= 0 {
		return usagef("amaters-server backup: --out FILE is required, and --timeout must be positive")
	}
	if err := checkFormat("backup", *format); err != nil {
		return err
	}
	return asJSON(backupTo(ctx, &cf, *out, *timeout, *format, stdout, stderr), *format, stdout)
}

// backupResult is what backup --format json prints.
type backupResult struct {
	Addr         string  `json:"addr"`
	Out          string  `json:"out"`
	Files        int     `json:"files"`
	Bytes        int64   `json:"bytes"`
	LastSequence uint64  `json:"last_sequence"`
	Seconds      float64 `json:"seconds"`
}

func backupTo(ctx context.Context, cf *clientFlags, out string, timeout time.Duration, format string, stdout, stderr io.Writer) error {
	cf.o.Timeout = timeout
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server backup: %v", err)
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	if refused(ctx, c.HostPort()) {
		return &cliError{"not_running", fmt.Errorf("amaters-server backup: no backup saved: %s is not reachable: connection refused (no server runs there)", cf.addr)}
	}
	start := time.Now()
	pl := newProgressLine(stderr, "saving", start)
	info, n, err := c.Backup(ctx, out, pl.update)
	pl.clear()
	if err != nil {
		return fmt.Errorf("amaters-server backup: no backup saved: %w", err)
	}
	if format == "json" {
		b, _ := json.Marshal(backupResult{Addr: cf.addr, Out: out, Files: info.Files, Bytes: n, LastSequence: info.LastSequence, Seconds: time.Since(start).Seconds()})
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(stdout, "backup of %s saved to %s: %d files, %s, last sequence %d, in %s; every BLAKE3 checksum verified\n",
		cf.addr, out, info.Files, backup.FormatBytes(n), info.LastSequence, time.Since(start).Round(time.Millisecond))
	return nil
}

// interruptible is ctx cancelled by the first SIGINT or SIGTERM (the
// command then cleans up and exits 1); a second signal ends the process
// at once.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// progressLine redraws one progress line on a terminal, at most four
// times a second; elsewhere it stays silent. Its methods accept a nil
// receiver, which is what newProgressLine returns off a terminal.
type progressLine struct {
	w           io.Writer
	verb        string
	start, last time.Time
	width       int // of the line drawn last, 0 when none is
}

func newProgressLine(w io.Writer, verb string, start time.Time) *progressLine {
	if !isTerminal(w) {
		return nil
	}
	// The first line waits a quarter of a second, for a rate worth showing.
	return &progressLine{w: w, verb: verb, start: start, last: start}
}

func (p *progressLine) update(pr backup.Progress) {
	if p == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond && pr.Done != pr.Total {
		return
	}
	p.last = now
	line := pr.Line(p.verb, now.Sub(p.start))
	fmt.Fprintf(p.w, "\r%-*s", p.width, line)
	p.width = len(line)
}

// clear erases the line, so that the summary replaces it.
func (p *progressLine) clear() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	p.width = 0
}
