package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"amaters-server/rbac"
)

// Load builds the effective configuration: defaults, then the TOML
// file at path (if path is not ""), then AMATERS_* variables from env (as
// returned by os.Environ), then the command-line overrides. It does not
// validate values beyond their type; call [Config.Validate] for that. The
// error, if any, joins every problem found (each a *Error).
func Load(path string, env []string, o Overrides) (Config, error) {
	return LoadWith(path, env, o, Options{})
}

// LoadWith is [Load] for a program that embeds the server and declares
// sections of its own in opts (the cluster edition's [cluster]): the file
// may hold them, and each is handed, with its AMATERS_<NAME>_* variables,
// to its [Section.Load]. Everything else is as strict as Load. An
// undeclared [cluster] section, or AMATERS_CLUSTER_* variable, is refused
// with a message naming amaters-server-cluster.
func LoadWith(path string, env []string, o Overrides, opts Options) (Config, error) {
	c := Default()
	c.origin = map[string]string{}
	if err := checkSections(opts.Sections, sectionNames(c.fields())); err != nil {
		return c, err
	}
	var errs []error
	in := make(map[string]*SectionInput, len(opts.Sections))
	for _, sec := range opts.Sections {
		in[sec.Name] = &SectionInput{Where: func(string) string { return path }, Env: map[string]string{}}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, &Error{Where: path, Message: readErrorMessage(err)}
		}
		c.File = path
		errs = append(errs, c.applyFile(path, data, in)...)
	}
	errs = append(errs, c.applyEnv(env, in)...)
	errs = append(errs, c.applyOverrides(o)...)
	for _, sec := range opts.Sections {
		if sec.Load != nil {
			si := in[sec.Name]
			si.File = path
			if path != "" {
				si.Dir = filepath.Dir(path)
			}
			errs = append(errs, sec.Load(*si)...)
		}
	}
	return c, errors.Join(errs...)
}

func readErrorMessage(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "configuration file does not exist"
	case errors.Is(err, os.ErrPermission):
		return "configuration file is not readable (permission denied)"
	}
	return err.Error()
}

// applyFile decodes a TOML document and sets every key it names. Every
// problem is collected: unknown sections and keys (with a hint), values of
// the wrong type. Relative paths are resolved against the file's folder.
//
// The tables of the sections in ext (declared by an embedding program)
// are not read here: they go into ext, with the function giving a key's
// position, for their Section.Load.
func (c *Config) applyFile(path string, data []byte, ext map[string]*SectionInput) []error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{&Error{Where: fmt.Sprintf("%s:%d", path, pe.Position.Line), Message: "TOML syntax: " + pe.Message}}
		}
		return []error{&Error{Where: path, Message: "TOML syntax: " + err.Error()}}
	}
	// The decoder gives no lines; the roles file's position scanner does
	// (see doc.go, "Positions").
	pos := rbac.ScanTOML(string(data))
	where := func(key string) string {
		section, name, nested := strings.Cut(key, ".")
		n := pos.Key(section)
		if nested {
			n = pos.Table(section).Key(name)
		}
		if n > 0 {
			return fmt.Sprintf("%s:%d", path, n)
		}
		return path
	}
	dir := filepath.Dir(path)
	fields := c.fields()
	var errs []error
	for _, section := range sortedKeys(doc) {
		table, ok := doc[section].(map[string]any)
		if si := ext[section]; si != nil && ok {
			si.Table = table
			si.Where = func(key string) string { return where(section + "." + key) }
			continue
		}
		if !ok {
			msg := unknownMessage("top-level key", section, sectionNames(fields))
			if slices.Contains(sectionNames(fields), section) || ext[section] != nil {
				// [[health]] or health = 1: the right name, the wrong shape.
				msg = fmt.Sprintf("%q must be a table: [%s], not %s", section, section, rbac.TOMLTypeName(doc[section]))
			}
			errs = append(errs, &Error{Where: where(section), Key: section, Message: msg})
			continue
		}
		if !slices.Contains(sectionNames(fields), section) {
			msg := unknownMessage("section", section, sectionNames(fields))
			if m, ok := editionSections[section]; ok {
				msg = m
			}
			errs = append(errs, &Error{Where: where(section), Key: section, Message: msg})
			continue
		}
		for _, name := range sortedKeys(table) {
			key := section + "." + name
			f := findField(fields, key)
			if f == nil {
				errs = append(errs, &Error{Where: where(key), Key: key, Message: unknownMessage("key", name, keyNames(fields, section))})
				continue
			}
			if err := f.setTOML(table[name]); err != nil {
				errs = append(errs, &Error{Where: where(key), Key: key, Message: err.Error()})
				continue
			}
			if f.path {
				p := f.ptr.(*string)
				if *p != "" && !filepath.IsAbs(*p) {
					*p = filepath.Join(dir, *p)
				}
			}
			c.origin[key] = where(key)
		}
	}
	return errs
}

// applyEnv applies AMATERS_<SECTION>_<KEY> variables and the short aliases.
// A variable that names a known section but an unknown key is an error (a
// typo would otherwise be silently ignored); other AMATERS_* variables, such
// as the clients' AMATERS_TOKEN, are left alone.
//
// The variables of the sections in ext (AMATERS_<NAME>_*) go into ext,
// for their Section.Load; those of an edition's section that is not
// declared (AMATERS_CLUSTER_* in amaters-server) are refused.
func (c *Config) applyEnv(env []string, ext map[string]*SectionInput) []error {
	fields := c.fields()
	aliases := map[string]string{
		"AMATERS_BIND_ADDRESS": "server.bind_address",
		"AMATERS_DATA_DIR":     "server.data_dir",
		"AMATERS_LOG_LEVEL":    "server.log_level",
	}
	vars := map[string]string{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, "AMATERS_") {
			vars[name] = value
		}
	}
	var errs []error
	apply := func(name, key, value string) {
		f := findField(fields, key)
		if err := f.setString(value); err != nil {
			errs = append(errs, &Error{Where: "$" + name, Key: key, Message: err.Error()})
			return
		}
		c.origin[key] = "$" + name
	}
	// Aliases first, so the full names win when both are set.
	for _, name := range sortedKeys(vars) {
		if key, ok := aliases[name]; ok {
			apply(name, key, vars[name])
		}
	}
	for _, name := range sortedKeys(vars) {
		if _, ok := aliases[name]; ok {
			continue
		}
		rest := strings.ToLower(strings.TrimPrefix(name, "AMATERS_"))
		if section, _, ok := strings.Cut(rest, "_"); ok {
			if si := ext[section]; si != nil {
				si.Env[name] = vars[name]
				continue
			}
			if msg, ok := editionSections[section]; ok {
				// Key is the section, as for [cluster] in the file: the
				// whole section is refused, whichever key is named.
				errs = append(errs, &Error{Where: "$" + name, Key: section, Message: msg})
				continue
			}
		}
		for _, section := range sectionNames(fields) {
			keyPart, ok := strings.CutPrefix(rest, section+"_")
			if !ok {
				continue
			}
			key := section + "." + keyPart
			if findField(fields, key) == nil {
				hint := ""
				if s := closest(keyPart, keyNames(fields, section)); s != "" {
					hint = fmt.Sprintf(" (did you mean AMATERS_%s_%s?)", strings.ToUpper(section), strings.ToUpper(s))
				}
				errs = append(errs, &Error{Where: "$" + name, Key: key, Message: "unknown configuration variable" + hint})
				break
			}
			apply(name, key, vars[name])
			break
		}
	}
	return errs
}

func (c *Config) applyOverrides(o Overrides) []error {
	fields := c.fields()
	var errs []error
	for _, ov := range []struct{ flag, key, value string }{
		{"--data-dir", "server.data_dir", o.DataDir},
		{"--bind", "server.bind_address", o.Bind},
		{"--log-level", "server.log_level", o.LogLevel},
		{"--engine", "storage.engine", o.Engine},
		{"--health-port", "health.http_port", o.HealthPort},
		{"--wal-dir", "storage.wal_dir", o.WALDir},
	} {
		if ov.value == "" {
			continue
		}
		if err := findField(fields, ov.key).setString(ov.value); err != nil {
			errs = append(errs, &Error{Where: "flag " + ov.flag, Key: ov.key, Message: err.Error()})
			continue
		}
		c.origin[ov.key] = "flag " + ov.flag
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
