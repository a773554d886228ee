package main

import (
	"context"
	"fmt"
	"io"

	"amaters-server/server/client"
)

// cmdRange lists the keys of a collection in key order, following every
// page unless --limit caps the count. Human output is the key, a tab and
// the value on one line per key (as they are: binary-safe, so a key or
// value holding a tab or newline reads ambiguously; use --format json,
// one JSON object per line with key and value in base64, for those).
func cmdRange(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("range", "COLLECTION [--prefix P | --start S --end E] [--limit N] [--format human|json] [auth flags]")
	var d dataFlags
	d.register(fs, env)
	prefix := fs.String("prefix", "", "only keys beginning with `P`")
	start := fs.String("start", "", "first key `S` (inclusive)")
	end := fs.String("end", "", "end key `E` (exclusive)")
	limit := fs.Int("limit", 0, "at most `N` keys (default: all)")
	pos, done, err := parseData(fs, &d, args, 1, 1, stdout, stderr)
	if done {
		return err
	}
	if *limit < 0 {
		return usagef("amaters-server range: --limit must be positive")
	}
	if *prefix != "" && (*start != "" || *end != "") {
		return usagef("amaters-server range: give --prefix or --start/--end, not both")
	}
	c, err := newDataClient("range", &d)
	if err != nil {
		return err
	}
	q := client.RangeQuery{Limit: 1000}
	if *limit > 0 {
		q.Limit = min(*limit, 10000)
	}
	for _, b := range []struct {
		dst *[]byte
		v   string
	}{{&q.Prefix, *prefix}, {&q.Start, *start}, {&q.End, *end}} {
		if b.v != "" {
			*b.dst = []byte(b.v)
		}
	}
	n := 0
	for it, err := range c.Range(ctx, pos[0], q) {
		if err != nil {
			return fmt.Errorf("amaters-server range: %w", err)
		}
		if d.format == "json" {
			err = writeJSONLine(stdout, jsonItem{Key: it.Key, Value: it.Value, ModRevision: it.ModRevision, ExpiresAt: expiryText(it.ExpiresAt)})
		} else {
			line := append(append(append(append([]byte{}, it.Key...), '\t'), it.Value...), '\n')
			_, err = stdout.Write(line)
		}
		if err != nil {
			return fmt.Errorf("amaters-server range: %w", err)
		}
		if n++; *limit > 0 && n == *limit {
			break
		}
	}
	return nil
}
