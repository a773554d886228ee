package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"amaters-server/server"
)

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	fmt.Fprintf(stdout, "amaters-server %s (%s %s/%s, commit %s)\n", server.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, commit())
	return nil
}

// buildCommit is set at link time by builds without VCS information (such
// as deploy/Dockerfile): -ldflags "-X main.buildCommit=abc1234". It is
// never written at run time.
var buildCommit string

// commit returns the short VCS revision: the one stamped by -ldflags, else
// the one go build recorded, else "unknown".
func commit() string {
	if buildCommit != "" {
		return buildCommit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return s.Value[:7]
		}
	}
	return "unknown"
}
