package main

import (
	"context"
	"fmt"
	"io"
)

// cmdCollections lists the collections holding a live key the caller may
// read, one name per line (or {"name":...} per line with --format json).
func cmdCollections(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("collections", "[--format human|json] [auth flags]")
	var d dataFlags
	d.register(fs, env)
	if _, done, err := parseData(fs, &d, args, 0, 0, stdout, stderr); done {
		return err
	}
	c, err := newDataClient("collections", &d)
	if err != nil {
		return err
	}
	names, err := c.Collections(ctx)
	if err != nil {
		return fmt.Errorf("amaters-server collections: %w", err)
	}
	for _, n := range names {
		if d.format == "json" {
			err = writeJSONLine(stdout, map[string]string{"name": n})
		} else {
			_, err = fmt.Fprintln(stdout, n)
		}
		if err != nil {
			return fmt.Errorf("amaters-server collections: %w", err)
		}
	}
	return nil
}
