package rbac

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Options configures [Load]. The zero value is usable.
type Options struct {
	// DefaultRole is the role of a subject that names none, neither in
	// its credential nor in a binding (authz.default_role). Empty means
	// reader. It must be a built-in or defined role.
	DefaultRole string
}

// file is the roles file (authz.roles_file):
//
//	[[roles]]
//	name = "analyst"
//	description = "reads the logs, writes reports"
//	inherits = ["reader"]
//	permissions = [
//	  { resource = "collection:logs", actions = ["read"] },
//	  { resource = "collection:reports", actions = ["read", "write"] },
//	]
//
//	[[bindings]]
//	subject = "node-1.example.com"   # JWT sub, API key user_id or certificate CN
//	roles = ["analyst"]
//	collections = ["metrics"]
type file struct {
	Roles    []fileRole    `toml:"roles"`
	Bindings []fileBinding `toml:"bindings"`
}

type fileRole struct {
	Name        string           `toml:"name"`
	Description string           `toml:"description"`
	Permissions []filePermission `toml:"permissions"`
	Inherits    []string         `toml:"inherits"`
}

type filePermission struct {
	Resource resourceText `toml:"resource"`
	Actions  []actionText `toml:"actions"`
}

type fileBinding struct {
	Subject     string   `toml:"subject"`
	Roles       []string `toml:"roles"`
	Collections []string `toml:"collections"`
}

// resourceText and actionText check their value while the file is decoded,
// so that the TOML decoder reports a bad one with its line.
type resourceText string

func (r *resourceText) UnmarshalText(b []byte) error {
	if _, _, err := parseResource(string(b)); err != nil {
		return err
	}
	*r = resourceText(b)
	return nil
}

type actionText string

func (a *actionText) UnmarshalText(b []byte) error {
	if _, err := ParseAction(string(b)); err != nil {
		return err
	}
	*a = actionText(b)
	return nil
}

// LoadFile reads and compiles a roles file; errors name the file.
func LoadFile(path string, opts Options) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rbac: roles file: %w", err)
	}
	p, err := Load(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Load compiles the built-in roles plus the custom roles and bindings of a
// roles file (see the package documentation for the format). Empty data
// gives the built-in roles. It refuses, listing every problem at once:
// TOML errors (with their line) and unknown keys; custom roles without a
// name, defined twice, or named like a built-in role; unknown resources or
// actions; inherits naming an unknown role or forming a cycle; bindings
// without a subject, for a subject bound twice, with an unknown role or an
// invalid collection name; and an unknown default role.
func Load(data []byte, opts Options) (*Policy, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("rbac: roles file: %w", err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		return nil, fmt.Errorf("rbac: roles file: unknown keys %s (known: roles.name, roles.description, roles.permissions.resource, roles.permissions.actions, roles.inherits, bindings.subject, bindings.roles, bindings.collections)", strings.Join(names, ", "))
	}
	def := opts.DefaultRole
	if def == "" {
		def = RoleReader
	}
	return compile(f.Roles, f.Bindings, def)
}

// compile checks custom roles and bindings and flattens every role.
func compile(custom []fileRole, bindings []fileBinding, defaultRole string) (*Policy, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("rbac: roles file: "+format, args...))
	}
	defs := make(map[string]fileRole)
	for _, r := range builtinRoles() {
		defs[r.Name] = r
	}
	for i, r := range custom {
		switch {
		case r.Name == "":
			bad("roles #%d: name is required", i+1)
			continue
		case !validRoleName(r.Name):
			bad("role %q: invalid name (letters, digits, '_', '-', '.', ':')", r.Name)
			continue
		case isBuiltin(r.Name):
			bad("role %q: redefines a built-in role; define a new role that inherits it instead", r.Name)
			continue
		}
		if _, dup := defs[r.Name]; dup {
			bad("role %q: defined twice", r.Name)
			continue
		}
		for j, perm := range r.Permissions {
			if perm.Resource == "" {
				bad("role %q: permission #%d: resource is required", r.Name, j+1)
			}
			if len(perm.Actions) == 0 {
				bad("role %q: permission #%d: actions must list at least one of read, write, admin", r.Name, j+1)
			}
		}
		defs[r.Name] = r
	}
	for _, r := range custom {
		for _, parent := range r.Inherits {
			if _, ok := defs[parent]; !ok && r.Name != "" {
				bad("role %q: inherits unknown role %q", r.Name, parent)
			}
		}
	}
	if cycle := findCycle(defs); cycle != nil {
		bad("inherits cycle: %s", strings.Join(cycle, " -> "))
	}
	if len(errs) > 0 {
		// Flattening needs a well-formed, acyclic graph.
		return nil, errors.Join(errs...)
	}

	p := &Policy{roles: make(map[string]*grants, len(defs)), bindings: make(map[string]binding, len(bindings)), defaultRole: defaultRole}
	for name := range defs {
		p.flatten(name, defs)
	}
	if _, ok := p.roles[defaultRole]; !ok {
		bad("default role %q is not defined (roles: %s)", defaultRole, strings.Join(p.Roles(), ", "))
	}
	seen := make(map[string]int, len(bindings))
	for i, b := range bindings {
		where := fmt.Sprintf("bindings #%d", i+1)
		if b.Subject == "" {
			bad("%s: subject is required", where)
			continue
		}
		where += fmt.Sprintf(" (subject %q)", b.Subject)
		if j, dup := seen[b.Subject]; dup {
			bad("%s: subject already bound by bindings #%d; merge them", where, j+1)
			continue
		}
		seen[b.Subject] = i
		for _, r := range b.Roles {
			if _, ok := p.roles[r]; !ok {
				bad("%s: unknown role %q", where, r)
			}
		}
		for _, c := range b.Collections {
			if c != "*" && !ValidCollectionName(c) {
				bad("%s: invalid collection name %q", where, c)
			}
		}
		p.bindings[b.Subject] = binding{roles: slices.Clip(b.Roles), collections: slices.Clip(b.Collections)}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// flatten computes the grants of role name and of everything it inherits,
// memoized in p.roles. The graph has been checked to be acyclic.
func (p *Policy) flatten(name string, defs map[string]fileRole) *grants {
	if g := p.roles[name]; g != nil {
		return g
	}
	r := defs[name]
	g := &grants{named: map[string]Action{}}
	for _, perm := range r.Permissions {
		var level Action
		for _, a := range perm.Actions {
			act, _ := ParseAction(string(a)) // checked while decoding
			level = max(level, act)
		}
		kind, coll, _ := parseResource(string(perm.Resource)) // checked while decoding
		switch kind {
		case "*":
			g.all = max(g.all, level)
		case "server":
			g.server = max(g.server, level)
		case "collection:*":
			g.assigned = max(g.assigned, level)
		case "collection":
			g.named[coll] = max(g.named[coll], level)
		}
	}
	for _, parent := range r.Inherits {
		pg := p.flatten(parent, defs)
		g.all = max(g.all, pg.all)
		g.server = max(g.server, pg.server)
		g.assigned = max(g.assigned, pg.assigned)
		for c, l := range pg.named {
			g.named[c] = max(g.named[c], l)
		}
	}
	p.roles[name] = g
	return g
}

// findCycle returns one inherits cycle as a path that starts and ends with
// the same role, or nil. Roles are visited in sorted order so the report is
// deterministic.
func findCycle(defs map[string]fileRole) []string {
	const (
		unvisited = iota
		active
		done
	)
	state := make(map[string]int, len(defs))
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case active:
			i := slices.Index(path, name)
			return append(slices.Clone(path[i:]), name)
		case done:
			return nil
		}
		state[name] = active
		path = append(path, name)
		for _, parent := range defs[name].Inherits {
			if _, ok := defs[parent]; !ok {
				continue // reported as unknown
			}
			if c := visit(parent); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if c := visit(n); c != nil {
			return c
		}
	}
	return nil
}

func validRoleName(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return s != ""
}
