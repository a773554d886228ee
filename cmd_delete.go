package main

import (
	"context"
	"fmt"
	"io"

	"amaters-server/server/client"
)

// cmdDelete removes a key (an absent key is no error, as in the API);
// --if-match guards it. It prints the database revision after it.
func cmdDelete(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("delete", "COLLECTION KEY [--if-match REV] [--format human|json] [auth flags]")
	var d dataFlags
	d.register(fs, env)
	ifMatch := fs.String("if-match", "", "delete only if the key is at mod revision `REV`")
	pos, done, err := parseData(fs, &d, args, 2, 2, stdout, stderr)
	if done {
		return err
	}
	rev, err := parseRev("delete", "if-match", *ifMatch)
	if err != nil {
		return err
	}
	var opts []client.WriteOption
	if rev != 0 {
		opts = append(opts, client.IfMatch(rev))
	}
	c, err := newDataClient("delete", &d)
	if err != nil {
		return err
	}
	coll, key := pos[0], []byte(pos[1])
	dbRev, err := c.Delete(ctx, coll, key, opts...)
	if err != nil {
		return dataError("delete", coll, key, err)
	}
	if d.format == "json" {
		return writeJSONLine(stdout, map[string]uint64{"revision": dbRev})
	}
	fmt.Fprintf(stdout, "OK revision %d\n", dbRev)
	return nil
}
