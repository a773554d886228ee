package main

import (
	"context"
	"fmt"
	"io"
)

// cmdGet prints a key's value: as it is (binary-safe, no newline added),
// or, with --format json, {"key","value","mod_revision","expires_at",
// "revision"}. A missing key is exit 1.
func cmdGet(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("get", "COLLECTION KEY [--format human|json] [auth flags]")
	var d dataFlags
	d.register(fs, env)
	pos, done, err := parseData(fs, &d, args, 2, 2, stdout, stderr)
	if done {
		return err
	}
	c, err := newDataClient("get", &d)
	if err != nil {
		return err
	}
	coll, key := pos[0], []byte(pos[1])
	e, err := c.GetEntry(ctx, coll, key)
	if err != nil {
		return dataError("get", coll, key, err)
	}
	if d.format == "json" {
		return writeJSONLine(stdout, jsonItem{Key: key, Value: e.Value, ModRevision: e.ModRevision, ExpiresAt: expiryText(e.ExpiresAt), Revision: e.Revision})
	}
	if _, err := stdout.Write(e.Value); err != nil {
		return fmt.Errorf("amaters-server get: %w", err)
	}
	return nil
}
