package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"amaters-server/server/client"
)

// cmdPut stores a value, from the argument or, when it is "-" or left
// out, from standard input (binary-safe). --ttl, --if-match and
// --if-absent map to ?ttl=, If-Match and If-None-Match: *. It prints the
// key's new mod revision ("OK revision N", or {"mod_revision":N}); a
// failed guard is exit 1.
func cmdPut(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("put", "COLLECTION KEY [VALUE|-] [--ttl SECONDS] [--if-match REV|--if-absent] [--format human|json] [auth flags]")
	var d dataFlags
	d.register(fs, env)
	ttl := fs.Int64("ttl", 0, "expire the key after `SECONDS` (1 … 315360000)")
	ifMatch := fs.String("if-match", "", "write only if the key is at mod revision `REV`")
	ifAbsent := fs.Bool("if-absent", false, "write only if the key does not exist (create)")
	pos, done, err := parseData(fs, &d, args, 2, 3, stdout, stderr)
	if done {
		return err
	}
	rev, err := parseRev("put", "if-match", *ifMatch)
	if err != nil {
		return err
	}
	if rev != 0 && *ifAbsent {
		return usagef("amaters-server put: give --if-match or --if-absent, not both")
	}
	if *ttl < 0 || *ttl > 315360000 {
		return usagef("amaters-server put: --ttl must be from 1 to 315360000 seconds")
	}
	var opts []client.WriteOption
	switch {
	case rev != 0:
		opts = append(opts, client.IfMatch(rev))
	case *ifAbsent:
		opts = append(opts, client.IfAbsent())
	}
	if *ttl > 0 {
		opts = append(opts, client.TTL(time.Duration(*ttl)*time.Second))
	}
	c, err := newDataClient("put", &d)
	if err != nil {
		return err
	}
	coll, key := pos[0], []byte(pos[1])
	var value []byte
	if len(pos) == 3 && pos[2] != "-" {
		value = []byte(pos[2])
	} else if value, err = io.ReadAll(stdin); err != nil {
		return fmt.Errorf("amaters-server put: reading the value from standard input: %w", err)
	}
	modRev, err := c.Put(ctx, coll, key, value, opts...)
	if err != nil {
		return dataError("put", coll, key, err)
	}
	if d.format == "json" {
		return writeJSONLine(stdout, map[string]uint64{"mod_revision": modRev})
	}
	fmt.Fprintf(stdout, "OK revision %d\n", modRev)
	return nil
}
