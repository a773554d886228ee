package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"amaters-server/server/backup"
)

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", "--from FILE --data-dir DIR [--format human|json]")
	from := fs.String("from", "", "backup `file` written by the backup command")
	dir := fs.String("data-dir", "", "data `folder` to restore into; must not exist or be empty")
	format := formatFlag(fs)
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *from == "" || *dir == "" {
		return usagef("amaters-server restore: --from FILE and --data-dir DIR are required")
	}
	if err := checkFormat("restore", *format); err != nil {
		return err
	}
	return asJSON(restore(ctx, *from, *dir, *format, stdout, stderr), *format, stdout)
}

// restoreResult is what restore --format json prints.
type restoreResult struct {
	From          string    `json:"from"`
	DataDir       string    `json:"data_dir"`
	Files         int       `json:"files"`
	Bytes         int64     `json:"bytes"`
	LastSequence  uint64    `json:"last_sequence"`
	Created       time.Time `json:"created"`
	ServerVersion string    `json:"server_version"`
	Seconds       float64   `json:"seconds"`
	Next          string    `json:"next"`
}

func restore(ctx context.Context, from, dir, format string, stdout, stderr io.Writer) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	start := time.Now()
	pl := newProgressLine(stderr, "restoring", start)
	info, err := backup.Restore(ctx, from, dir, pl.update)
	pl.clear()
	if err != nil {
		return fmt.Errorf("amaters-server restore: nothing restored: %w", err)
	}
	// The hint keeps --config: a start without it runs on the built-in
	// defaults, authentication off.
	next := fmt.Sprintf("start the server with server.data_dir = %q and a write-ahead log folder of its own (amaters-server start --config YOUR-CONFIG.toml --data-dir %s --wal-dir %s --engine lsm; without --config it runs on the defaults, authentication off); never the storage.wal_dir of another database", dir, dir, filepath.Join(dir, "wal"))
	if format == "json" {
		b, _ := json.Marshal(restoreResult{From: from, DataDir: dir, Files: info.Files, Bytes: info.Bytes, LastSequence: info.LastSequence,
			Created: info.Created, ServerVersion: info.ServerVersion, Seconds: time.Since(start).Seconds(), Next: next})
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(stdout, "restored %d files (%s, last sequence %d) of a backup taken %s by amaters-server %s into %s in %s; every BLAKE3 checksum verified\n",
		info.Files, backup.FormatBytes(info.Bytes), info.LastSequence, info.Created.Format(time.RFC3339), info.ServerVersion,
		filepath.Join(dir, "db"), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "next: %s\n", next)
	return nil
}
