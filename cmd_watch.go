package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"amaters-server/server/client"
)

// cmdWatch prints the changes of a collection, one line per event, until
// interrupted; the client reconnects by itself (API.md §8).
func cmdWatch(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", "C [--prefix P | --start S --end E] [--from REV] [--format human|json] [auth flags]")
	var cf clientFlags
	cf.register(fs, env)
	prefix := fs.String("prefix", "", "only keys starting with `P`")
	start := fs.String("start", "", "only keys ≥ `S`")
	end := fs.String("end", "", "only keys < `E`")
	from := fs.Uint64("from", 0, "first `revision` to print (default: the changes from now on)")
	format := fs.String("format", "human", "output `format`: human (REV KIND KEY[=VALUE]) or json (one object per line)")
	coll, done, err := parseWithArg(fs, args, stdout, stderr)
	if done {
		return err
	}
	if *format != "human" && *format != "json" {
		return usagef("amaters-server watch: --format must be human or json")
	}
	if *prefix != "" && (*start != "" || *end != "") {
		return usagef("amaters-server watch: --prefix and --start/--end exclude each other")
	}
	c, err := client.New(cf.addr, cf.options())
	if err != nil {
		return usagef("amaters-server watch: %v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := client.WatchOptions{From: *from, Reconnects: -1}
	if *prefix != "" {
		opts.Prefix = []byte(*prefix)
	}
	if *start != "" {
		opts.Start = []byte(*start)
	}
	if *end != "" {
		opts.End = []byte(*end)
	}
	events, errc := c.Watch(ctx, coll, opts)
	for ev := range events {
		var line []byte
		if *format == "json" {
			line = jsonEvent(ev)
		} else {
			line = humanEvent(ev)
		}
		if _, err := stdout.Write(line); err != nil {
			stop() // the reader went away (a closed pipe): end quietly
		}
	}
	err = <-errc
	var ce *client.Error
	switch {
	case errors.Is(err, context.Canceled):
		return nil // interrupted: a watch has no other normal end
	case errors.Is(err, client.ErrCompacted) && errors.As(err, &ce):
		return fmt.Errorf("amaters-server watch: revision %d is no longer in the server's history; the oldest kept is %d (use --from %d)", *from, ce.OldestRevision, ce.OldestRevision)
	}
	return fmt.Errorf("amaters-server watch: %w", err)
}

// parseWithArg parses a command's flags around its one positional
// argument (flags may come before and after it).
func parseWithArg(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (arg string, done bool, err error) {
	fs.SetOutput(stderr)
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return "", true, nil
	case err != nil:
		return "", true, usageError{}
	case fs.NArg() == 0:
		return "", true, usagef("amaters-server %s: the collection is missing", fs.Name())
	}
	arg = fs.Arg(0)
	done, err = parseFlags(fs, fs.Args()[1:], stdout, stderr)
	return arg, done, err
}

// humanEvent is "REV KIND KEY[=VALUE] [expires T]\n", a key or value
// quoted (Go syntax) when it is not plain printable text.
func humanEvent(ev client.Event) []byte {
	b := strconv.AppendUint(nil, ev.Revision, 10)
	b = append(b, ' ')
	b = append(b, ev.Kind...)
	b = append(b, ' ')
	b = appendText(b, ev.Key)
	if ev.Value != nil {
		b = append(b, '=')
		b = appendText(b, ev.Value)
	}
	if !ev.ExpiresAt.IsZero() {
		b = append(b, " expires "...)
		b = ev.ExpiresAt.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, '\n')
}

func appendText(b, s []byte) []byte {
	plain := utf8.Valid(s) && len(s) > 0
	for _, r := range string(s) {
		if r <= ' ' || r == '=' || r == '"' || r == '\\' || r == 0x7f || r == utf8.RuneError {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, string(s))
}

// jsonEvent is the event as one JSON line, the SSE data plus its kind.
func jsonEvent(ev client.Event) []byte {
	v := struct {
		Event     string  `json:"event"`
		Key       []byte  `json:"key"`
		Value     *[]byte `json:"value,omitempty"`
		Revision  uint64  `json:"revision"`
		ExpiresAt string  `json:"expires_at,omitempty"`
	}{Event: ev.Kind, Key: ev.Key, Revision: ev.Revision}
	if ev.Value != nil {
		v.Value = &ev.Value
	}
	if !ev.ExpiresAt.IsZero() {
		v.ExpiresAt = ev.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(v)
	return append(b, '\n')
}
