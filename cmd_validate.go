package main

import (
	"errors"
	"fmt"
	"io"

	"amaters-server/server"
	"amaters-server/server/config"
)

// cmdValidate loads the configuration as start would and checks all of it,
// the files it names included; the problems go to stdout, one per line.
func cmdValidate(args, env []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate-config", "--config FILE [--show]")
	var cf configFlags
	cf.register(fs, true)
	show := fs.Bool("show", false, "print the effective configuration as TOML (secrets redacted)")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	cfg, err := config.Load(cf.config, env, cf.o)
	if err := errors.Join(err, server.Validate(cfg)); err != nil {
		for _, e := range config.Problems(err) {
			fmt.Fprintln(stdout, e.Error())
		}
		return errReported
	}
	if *show {
		stdout.Write(cfg.MarshalTOML())
		return nil
	}
	fmt.Fprintln(stdout, "configuration OK")
	return nil
}
