// Command amaters-server is a key-value database server: one static binary
// with an HTTP API, a health and Prometheus metrics listener, and a
// flag-based command line. See README.md and API.md for the contract.
//
// Each command is a function returning an error, in a file named for it
// (cmd_start.go, cmd_client.go, ...); exitCode is the one place that turns
// an error into an exit code.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"amaters-server/server/client"
)

// Exit codes of API.md §1.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

const usage = `amaters-server: a key-value database server

Usage:
  amaters-server start [--config FILE] [--data-dir DIR] [--bind HOST:PORT]
                       [--log-level LEVEL] [--engine lsm|memory] [--health-port PORT]
                       [--wal-dir DIR]
  amaters-server --config FILE                 same as start --config FILE
  amaters-server validate-config --config FILE [--show]
  amaters-server status --addr HOST:PORT [--format human|json] [auth flags]
  amaters-server stop --addr HOST:PORT [--timeout 30s] [auth flags]
  amaters-server bench --addr HOST:PORT [--clients 64] [--duration 30s | --requests N]
                       [--workload get|put|mixed:90/10|range|batch] [--keys 100000]
                       [--value-size 100] [--format human|json] [auth flags]
  amaters-server backup --addr HOST:PORT --out FILE [--timeout 1m] [auth flags]
  amaters-server restore --from FILE --data-dir DIR
  amaters-server get C KEY                     print a value (binary-safe)
  amaters-server put C KEY [VALUE|-] [--ttl S] [--if-match REV|--if-absent]
  amaters-server delete C KEY [--if-match REV]
  amaters-server range C [--prefix P | --start S --end E] [--limit N]
  amaters-server collections
  amaters-server check --data-dir DIR [--wal-dir DIR] [--format human|json]
                       verifies a stopped database: exit 0 clean, 1 damaged
  amaters-server watch C [--prefix P | --start S --end E] [--from REV] [--format human|json]
                       [auth flags]
  amaters-server version (or --version)

Data commands (get, put, delete, range, collections) take --addr, the auth flags and
  --format human|json; "-" or no VALUE reads the value from standard input.
Auth flags (status, stop, bench, backup, watch and the data commands): --token JWT, --api-key KEY, --api-key-header NAME,
  --cacert FILE, --cert FILE, --key FILE, --insecure-skip-verify.
  AMATERS_TOKEN and AMATERS_API_KEY are read when the flags are not given.

Run "amaters-server COMMAND -h" for a command's flags.
Exit codes: 0 success, 1 failure, 2 bad command line.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment, input and output.
func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return exitCode(command(ctx, args, env, stdin, stdout, stderr), stderr)
}

// usageError is a bad command line (exit 2). Its message, when it has one,
// is printed; a flag the flag package refused has been reported by it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errReported is returned by a command that has already said why it failed
// (validate-config's problems, a status that is not "serving"): exit 1,
// nothing more printed.
var errReported = errors.New("reported")

// exitCode prints err, if it has something to say, and returns the exit
// code it means: 0 for nil, 2 for a usageError, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(stderr, ue.msg)
		}
		return exitUsage
	case errors.Is(err, errReported):
		return exitFail
	}
	fmt.Fprintln(stderr, err)
	return exitFail
}

// command runs the command args name.
func command(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{strings.TrimSuffix(usage, "\n")}
	}
	cmd, rest := args[0], args[1:]
	if strings.HasPrefix(cmd, "-") {
		switch cmd {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		case "-version", "--version":
			return cmdVersion(rest, stdout, stderr)
		}
		cmd, rest = "start", args // the bare "--config F" form
	}
	switch cmd {
	case "start":
		return cmdStart(ctx, rest, env, stdout, stderr)
	case "validate-config":
		return cmdValidate(rest, env, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, env, stdout, stderr)
	case "stop":
		return cmdStop(ctx, rest, env, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, env, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, env, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, stdout, stderr)
	case "get":
		return cmdGet(ctx, rest, env, stdout, stderr)
	case "put":
		return cmdPut(ctx, rest, env, stdin, stdout, stderr)
	case "delete":
		return cmdDelete(ctx, rest, env, stdout, stderr)
	case "range":
		return cmdRange(ctx, rest, env, stdout, stderr)
	case "collections":
		return cmdCollections(ctx, rest, env, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "watch":
		return cmdWatch(ctx, rest, env, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("amaters-server: unknown command %q\n\n%s", cmd, strings.TrimSuffix(usage, "\n"))
}

// parseFlags parses a subcommand's flags. done says the command has
// nothing more to do: help was asked for (printed once, on stdout), or the
// command line is bad (err; the flag package's message and the usage go
// to stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (done bool, err error) {
	// The flag package prints the usage itself on -h as on an error; what
	// it prints is held until it is known which of the two it was.
	var said bytes.Buffer
	fs.SetOutput(&said)
	err = fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return true, nil
	case err != nil:
		stderr.Write(said.Bytes())
		return true, usageError{} // the flag package said what
	case fs.NArg() > 0:
		return true, usagef("amaters-server %s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: amaters-server %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// clientFlags are the connection and auth flags of the client commands
// (status, stop, bench, backup).
type clientFlags struct {
	addr string
	o    client.Options
	env  []string
}

// register adds the flags to fs. The credentials' defaults come from the
// environment, but only in options(), after parsing: a flag's default is
// printed by -h and by every usage error, and a secret must not be.
func (c *clientFlags) register(fs *flag.FlagSet, env []string) {
	c.env = env
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7878", "server API `address` HOST:PORT or URL")
	fs.StringVar(&c.o.Token, "token", "", "bearer `JWT` (default $AMATERS_TOKEN)")
	fs.StringVar(&c.o.APIKey, "api-key", "", "API `key` (default $AMATERS_API_KEY)")
	fs.StringVar(&c.o.APIKeyHeader, "api-key-header", "X-API-Key", "header `name` for --api-key")
	fs.StringVar(&c.o.CACert, "cacert", "", "CA certificate `file` (PEM) to verify the server; selects https")
	fs.StringVar(&c.o.Cert, "cert", "", "client certificate `file` (PEM) for mTLS")
	fs.StringVar(&c.o.Key, "key", "", "client key `file` (PEM) for mTLS")
	fs.BoolVar(&c.o.Insecure, "insecure-skip-verify", false, "do not verify the server's certificate; selects https")
}

// options returns the client options: the flags, with the credentials
// not given as flags taken from $AMATERS_TOKEN and $AMATERS_API_KEY.
func (c *clientFlags) options() client.Options {
	o := c.o
	if o.Token == "" {
		o.Token = getenv(c.env, "AMATERS_TOKEN")
	}
	if o.APIKey == "" {
		o.APIKey = getenv(c.env, "AMATERS_API_KEY")
	}
	return o
}

func getenv(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// isTerminal reports whether w is a character device (a terminal), where a
// live progress line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// formatFlag adds the --format flag of the client commands.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "human", "output `format`: human or json (json: the result, or a JSON error object, on stdout)")
}

// checkFormat refuses a --format other than human or json.
func checkFormat(cmd, format string) error {
	if format != "human" && format != "json" {
		return usagef("amaters-server %s: --format must be human or json", cmd)
	}
	return nil
}

// cliError is a failure with a machine-readable code, for --format json.
type cliError struct {
	code string // e.g. "not_running", "unreachable", "refused", "failed"
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// asJSON is a client command's failure as --format json reports it: a
// JSON object {"error":{"code":...,"message":...}} on stdout, exit 1. A
// bad command line (exit 2) is still said on stderr, and so is everything
// with --format human.
func asJSON(err error, format string, stdout io.Writer) error {
	var ue usageError
	if err == nil || format != "json" || errors.As(err, &ue) || errors.Is(err, errReported) {
		return err
	}
	code := "failed"
	var ce *cliError
	if errors.As(err, &ce) {
		code = ce.code
	}
	out, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
	fmt.Fprintf(stdout, "%s\n", out)
	return errReported
}

// refused reports whether nothing listens at hostPort: a refused
// connection is an immediate, definite answer (no server runs there),
// unlike a reset or a timeout, which are worth retrying.
func refused(ctx context.Context, hostPort string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}
