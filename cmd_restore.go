package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"amaters-server/server/backup"
)

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", "--from FILE --data-dir DIR")
	from := fs.String("from", "", "backup `file` written by the backup command")
	dir := fs.String("data-dir", "", "data `folder` to restore into; must not exist or be empty")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *from == "" || *dir == "" {
		return usagef("amaters-server restore: --from FILE and --data-dir DIR are required")
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	start := time.Now()
	pl := newProgressLine(stderr, "restoring", start)
	info, err := backup.Restore(ctx, *from, *dir, pl.update)
	pl.clear()
	if err != nil {
		return fmt.Errorf("amaters-server restore: nothing restored: %w", err)
	}
	fmt.Fprintf(stdout, "restored %d files (%s, last sequence %d) of a backup taken %s by amaters-server %s into %s in %s; every BLAKE3 checksum verified\n",
		info.Files, backup.FormatBytes(info.Bytes), info.LastSequence, info.Created.Format(time.RFC3339), info.ServerVersion,
		filepath.Join(*dir, "db"), time.Since(start).Round(time.Millisecond))
	// The hint keeps --config: a start without it runs on the built-in
	// defaults, authentication off.
	fmt.Fprintf(stdout, "next: start the server with server.data_dir = %q and a write-ahead log folder of its own (amaters-server start --config YOUR-CONFIG.toml --data-dir %s --wal-dir %s --engine lsm; without --config it runs on the defaults, authentication off); never the storage.wal_dir of another database\n", *dir, *dir, filepath.Join(*dir, "wal"))
	return nil
}
