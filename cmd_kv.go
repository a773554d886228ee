package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"amaters-server/server/client"
)

// The data commands (get, put, delete, range, collections; API.md §7)
// share the client flags, --format human|json, and interspersed flags:
// "put c k v --ttl 5" and "put --ttl 5 c k v" are the same (after "--"
// every argument is positional, for values that start with "-").

// dataFlags are the flags every data command has.
type dataFlags struct {
	clientFlags
	format string
}

func (d *dataFlags) register(fs *flag.FlagSet, env []string) {
	d.clientFlags.register(fs, env)
	fs.StringVar(&d.format, "format", "human", "output `format`: human or json")
}

// parseData parses a data command's flags and positional arguments,
// which must number between min and max. done is as for parseFlags.
func parseData(fs *flag.FlagSet, d *dataFlags, args []string, min, max int, stdout, stderr io.Writer) (pos []string, done bool, err error) {
	fs.SetOutput(stderr)
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, true, nil
		case err != nil:
			return nil, true, usageError{}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if d.format != "human" && d.format != "json" {
		return nil, true, usagef("amaters-server %s: --format must be human or json", fs.Name())
	}
	if len(pos) < min || len(pos) > max {
		fs.SetOutput(stderr)
		return nil, true, usagef("amaters-server %s: wrong number of arguments\n\nUsage: amaters-server %s", fs.Name(), strings.TrimPrefix(usageLine(fs), "amaters-server "))
	}
	return pos, false, nil
}

// usageLine is the synopsis newFlagSet's Usage prints, first line.
func usageLine(fs *flag.FlagSet) string {
	var b strings.Builder
	out := fs.Output()
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(out)
	line, _, _ := strings.Cut(b.String(), "\n")
	return strings.TrimPrefix(line, "Usage: ")
}

// newDataClient makes the command's client.
func newDataClient(name string, d *dataFlags) (*client.Client, error) {
	c, err := client.New(d.addr, d.options())
	if err != nil {
		return nil, usagef("amaters-server %s: %v", name, err)
	}
	return c, nil
}

// dataError says what a failed call means, for the command name: a
// missing key or a failed guard plainly, anything else with the server's
// answer. All are exit 1.
func dataError(name, c string, key []byte, err error) error {
	var ce *client.Error
	switch {
	case errors.Is(err, client.ErrUnknownOutcome) && errors.Is(err, client.ErrPreconditionFailed):
		return fmt.Errorf("amaters-server %s: the outcome is unknown: an attempt was cut off and the retry found the guard no longer holds (the lost attempt may have applied); read %s/%s to know", name, c, key)
	case errors.Is(err, client.ErrUnknownOutcome):
		return fmt.Errorf("amaters-server %s: the outcome is unknown (the write may or may not have been applied; read %s/%s to know): %v", name, c, key, err)
	case errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("amaters-server %s: %s/%s: not found", name, c, key)
	case errors.Is(err, client.ErrPreconditionFailed) && errors.As(err, &ce):
		if ce.CurrentRevision == 0 {
			return fmt.Errorf("amaters-server %s: precondition failed: %s/%s does not exist", name, c, key)
		}
		return fmt.Errorf("amaters-server %s: precondition failed: %s/%s is at revision %d", name, c, key, ce.CurrentRevision)
	}
	return fmt.Errorf("amaters-server %s: %w", name, err)
}

// jsonItem is a key as the data commands print it in JSON: key and value
// in standard base64, as in the HTTP API.
type jsonItem struct {
	Key         []byte `json:"key"`
	Value       []byte `json:"value"`
	ModRevision uint64 `json:"mod_revision"`
	ExpiresAt   string `json:"expires_at,omitempty"`
	Revision    uint64 `json:"revision,omitempty"`
}

func expiryText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// parseRev reads a revision flag: N ≥ 1, or "" for none. A quoted ETag
// ("5", as curl shows it) is accepted too.
func parseRev(name, flagName, s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.Trim(s, `"`), 10, 64)
	if err != nil || n == 0 {
		return 0, usagef("amaters-server %s: --%s must be a revision (a whole number ≥ 1), not %q", name, flagName, s)
	}
	return n, nil
}
