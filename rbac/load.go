package rbac

import (
	"cmp"
	"errors"
	"fmt"
	"math"
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

// The roles file (authz.roles_file) is decoded into plain maps and checked
// key by key, so that every problem is found and reported with its line:
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
//
// The keys each table may hold:
var (
	fileKeys       = []string{"roles", "bindings"}
	roleKeys       = []string{"name", "description", "inherits", "permissions"}
	permissionKeys = []string{"resource", "actions"}
	bindingKeys    = []string{"subject", "roles", "collections"}
)

// fileRole is a role: a custom one from the file, or a built-in one.
type fileRole struct {
	Name        string
	Description string
	Permissions []filePermission
	Inherits    []string
	at          *TOMLPositions // where it is in the file; nil for a built-in role
}

type filePermission struct {
	Resource string
	Actions  []string
}

type fileBinding struct {
	Subject     string
	Roles       []string
	Collections []string
}

// problem is one thing wrong with a roles file, printable on one line:
// "rbac: roles file[ PATH]: [line N: ]MESSAGE".
type problem struct {
	file string // set by LoadFile
	line int    // from 1; 0 when unknown
	msg  string
}

func (p *problem) Error() string {
	prefix := "rbac: roles file"
	if p.file != "" {
		prefix += " " + p.file
	}
	if p.line > 0 {
		return fmt.Sprintf("%s: line %d: %s", prefix, p.line, p.msg)
	}
	return prefix + ": " + p.msg
}

// LoadFile reads and compiles a roles file. Its errors are those of [Load],
// each naming the file.
func LoadFile(path string, opts Options) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rbac: roles file: %w", err)
	}
	p, err := Load(data, opts)
	if err != nil {
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		named := make([]error, len(errs))
		for i, e := range errs {
			if pr, ok := e.(*problem); ok {
				pr := *pr
				pr.file = path
				named[i] = &pr
			} else {
				named[i] = fmt.Errorf("%s: %w", path, e)
			}
		}
		return nil, errors.Join(named...)
	}
	return p, nil
}

// Load compiles the built-in roles plus the custom roles and bindings of a
// roles file (see the package documentation for the format). Empty data
// gives the built-in roles.
//
// It refuses a file with any problem and reports them all at once, as an
// [errors.Join] of one error per problem, each on one line and naming the
// line of the file where it is when that is known: unknown keys and values
// of the wrong type; custom roles without a name, defined twice, or named
// like a built-in role; missing or unknown resources and actions; inherits
// naming an unknown role or forming a cycle; bindings without a subject,
// for a subject bound twice, with an unknown role or an invalid collection
// name; and an unknown default role. Only a TOML syntax error stops the
// checks, as there is then nothing to check.
func Load(data []byte, opts Options) (*Policy, error) {
	def := opts.DefaultRole
	if def == "" {
		def = RoleReader
	}
	text := string(data)
	var doc map[string]any
	if _, err := toml.Decode(text, &doc); err != nil {
		// The decoder's messages may quote a newline of the file.
		oneLine := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, errors.Join(&problem{line: pe.Position.Line, msg: "invalid TOML: " + oneLine(pe.Message)})
		}
		return nil, errors.Join(&problem{msg: "invalid TOML: " + oneLine(err.Error())})
	}
	c := &checker{}
	p := c.check(doc, ScanTOML(text), def)
	if len(c.problems) > 0 {
		// In the order of the file; problems without a line last.
		order := func(p *problem) int {
			if p.line == 0 {
				return math.MaxInt
			}
			return p.line
		}
		slices.SortStableFunc(c.problems, func(a, b *problem) int { return cmp.Compare(order(a), order(b)) })
		errs := make([]error, len(c.problems))
		for i, pr := range c.problems {
			errs[i] = pr
		}
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// checker collects the problems of a roles file.
type checker struct {
	problems []*problem
}

func (c *checker) add(line int, format string, args ...any) {
	c.problems = append(c.problems, &problem{line: line, msg: fmt.Sprintf(format, args...)})
}

// check checks a decoded roles file and, if it has no problem, compiles it.
func (c *checker) check(doc map[string]any, at *TOMLPositions, defaultRole string) *Policy {
	c.unknownKeys(doc, at, "", fileKeys)
	defs := builtinDefs()
	// named holds every role name a binding or inherits may use without
	// being reported: the defined ones and those already reported as
	// invalid.
	named := make(map[string]bool)
	var custom []*fileRole // every custom role with a name, in file order

	tables, pos := c.tables(doc, at, "roles", "", "roles")
	for i, t := range tables {
		r := c.role(t, pick(pos, i), i)
		switch {
		case r.Name == "":
			continue // reported by role
		case !validRoleName(r.Name):
			c.add(r.at.Key("name"), "role %q: invalid name (letters, digits, '_', '-', '.', ':')", r.Name)
			named[r.Name] = true
		case isBuiltin(r.Name):
			c.add(r.at.Key("name"), "role %q: redefines a built-in role; define a new role that inherits it instead", r.Name)
		case defs[r.Name] != nil:
			first := ""
			if l := defs[r.Name].at.Key("name"); l > 0 {
				first = fmt.Sprintf(" (first at line %d)", l)
			}
			c.add(r.at.Key("name"), "role %q: defined twice%s; merge the definitions", r.Name, first)
		default:
			defs[r.Name] = r
		}
		custom = append(custom, r)
	}
	for name := range defs {
		named[name] = true
	}
	for _, r := range custom {
		for k, parent := range r.Inherits {
			if !named[parent] {
				c.add(r.at.Elem("inherits", k, len(r.Inherits)), "role %q: inherits unknown role %q", r.Name, parent)
			}
		}
	}
	for _, cycle := range findCycles(defs) {
		from := defs[cycle[0]]
		c.add(from.at.Elem("inherits", slices.Index(from.Inherits, cycle[1]), len(from.Inherits)),
			"inherits cycle: %s", strings.Join(cycle, " -> "))
	}

	var bindings []fileBinding
	seen := make(map[string]int) // subject -> index of its binding
	tables, pos = c.tables(doc, at, "bindings", "", "bindings")
	for i, t := range tables {
		bat := pick(pos, i)
		b, ok := c.binding(t, bat, i, named)
		if !ok {
			continue
		}
		if j, dup := seen[b.Subject]; dup {
			first := ""
			if l := pick(pos, j).Key("subject"); l > 0 {
				first = fmt.Sprintf(" (line %d)", l)
			}
			c.add(bat.Key("subject"), "bindings #%d (subject %q): subject already bound by bindings #%d%s; merge them", i+1, b.Subject, j+1, first)
			continue
		}
		seen[b.Subject] = i
		bindings = append(bindings, b)
	}

	if defs[defaultRole] == nil {
		names := make([]string, 0, len(defs))
		for n := range defs {
			names = append(names, n)
		}
		slices.Sort(names)
		c.add(0, "default role %q is not defined (roles: %s)", defaultRole, strings.Join(names, ", "))
	}
	if len(c.problems) > 0 {
		return nil
	}
	return build(defs, bindings, defaultRole)
}

// role decodes and checks role #i, except for what needs the other roles.
func (c *checker) role(t map[string]any, at *TOMLPositions, i int) *fileRole {
	r := &fileRole{at: at}
	where := fmt.Sprintf("roles #%d", i+1)
	name, ok := c.str(t, at, "name", where)
	if name != "" {
		where = fmt.Sprintf("role %q", name)
	} else if ok || t["name"] == nil {
		c.add(at.Line(), "%s: name is required", where)
	}
	r.Name = name
	c.unknownKeys(t, at, where, roleKeys)
	r.Description, _ = c.str(t, at, "description", where)
	r.Inherits = c.strs(t, at, "inherits", where)
	perms, pat := c.tables(t, at, "permissions", where, "roles.permissions")
	for j, pt := range perms {
		r.Permissions = append(r.Permissions, c.permission(pt, pick(pat, j), fmt.Sprintf("%s: permission #%d", where, j+1)))
	}
	return r
}

// permission decodes and checks one permission of a role.
func (c *checker) permission(t map[string]any, at *TOMLPositions, where string) filePermission {
	c.unknownKeys(t, at, where, permissionKeys)
	res, ok := c.str(t, at, "resource", where)
	switch {
	case t["resource"] == nil || ok && res == "":
		c.add(at.Line(), `%s: resource is required ("*", "server", "collection:*" or "collection:NAME")`, where)
	case ok:
		if _, _, err := parseResource(res); err != nil {
			c.add(at.Key("resource"), "%s: %v", where, err)
		}
	}
	acts := c.strs(t, at, "actions", where)
	if arr, isArr := t["actions"].([]any); t["actions"] == nil || isArr && len(arr) == 0 {
		line := at.Key("actions")
		if line == 0 {
			line = at.Line()
		}
		c.add(line, "%s: actions must list at least one of read, write, admin", where)
	}
	for k, a := range acts {
		if _, err := ParseAction(a); err != nil {
			c.add(at.Elem("actions", k, len(acts)), "%s: unknown action %q (read, write, admin)", where, a)
		}
	}
	return filePermission{Resource: res, Actions: acts}
}

// binding decodes and checks binding #i; ok is false if it has no subject.
// named holds the role names it may use.
func (c *checker) binding(t map[string]any, at *TOMLPositions, i int, named map[string]bool) (b fileBinding, ok bool) {
	where := fmt.Sprintf("bindings #%d", i+1)
	subject, isStr := c.str(t, at, "subject", where)
	if subject != "" {
		where += fmt.Sprintf(" (subject %q)", subject)
	} else if isStr || t["subject"] == nil {
		c.add(at.Line(), "%s: subject is required (a JWT sub, API key user_id or certificate CN)", where)
	}
	c.unknownKeys(t, at, where, bindingKeys)
	b = fileBinding{Subject: subject, Roles: c.strs(t, at, "roles", where), Collections: c.strs(t, at, "collections", where)}
	for k, r := range b.Roles {
		if !named[r] {
			c.add(at.Elem("roles", k, len(b.Roles)), "%s: unknown role %q", where, r)
		}
	}
	for k, coll := range b.Collections {
		if coll != "*" && !ValidCollectionName(coll) {
			c.add(at.Elem("collections", k, len(b.Collections)), "%s: invalid collection name %q", where, coll)
		}
	}
	return b, subject != ""
}

// unknownKeys reports the keys of t that are not in known.
func (c *checker) unknownKeys(t map[string]any, at *TOMLPositions, where string, known []string) {
	keys := make([]string, 0, len(t))
	for k := range t {
		if !slices.Contains(known, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.add(at.Key(k), "%sunknown key %q (known: %s)", prefix(where), k, strings.Join(known, ", "))
	}
}

// str returns the string value of key k of t, if it is one; a value of
// another type is reported.
func (c *checker) str(t map[string]any, at *TOMLPositions, k, where string) (s string, ok bool) {
	v, found := t[k]
	if !found {
		return "", false
	}
	if s, ok = v.(string); !ok {
		c.add(at.Key(k), "%s%s must be a string, not %s", prefix(where), k, TOMLTypeName(v))
	}
	return s, ok
}

// strs returns the array of strings of key k of t, if it is one; a value
// of another type is reported.
func (c *checker) strs(t map[string]any, at *TOMLPositions, k, where string) []string {
	v, found := t[k]
	if !found {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		c.add(at.Key(k), "%s%s must be an array of strings, not %s", prefix(where), k, TOMLTypeName(v))
		return nil
	}
	ss := make([]string, len(a))
	for i, e := range a {
		if ss[i], ok = e.(string); !ok {
			c.add(at.Elem(k, i, len(a)), "%s%s must be an array of strings, not of %s", prefix(where), k, TOMLTypeName(e))
			return nil
		}
	}
	return ss
}

// tables returns the array of tables of key k of t ([[header]] or
// k = [{...}]) and where each one is; a value of another type is reported.
func (c *checker) tables(t map[string]any, at *TOMLPositions, k, where, header string) ([]map[string]any, []*TOMLPositions) {
	v, found := t[k]
	if !found {
		return nil, nil
	}
	var list []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		list = v
	case []any:
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				c.add(at.Key(k), "%s%s must be an array of tables ([[%s]] or %s = [{ ... }]), not of %s", prefix(where), k, header, k, TOMLTypeName(e))
				return nil, nil
			}
			list = append(list, m)
		}
	default:
		c.add(at.Key(k), "%s%s must be an array of tables ([[%s]] or %s = [{ ... }]), not %s", prefix(where), k, header, k, TOMLTypeName(v))
		return nil, nil
	}
	return list, at.Children(k, len(list))
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

// build flattens checked roles into a Policy.
func build(defs map[string]*fileRole, bindings []fileBinding, defaultRole string) *Policy {
	p := &Policy{roles: make(map[string]*grants, len(defs)), bindings: make(map[string]binding, len(bindings)), defaultRole: defaultRole}
	for name := range defs {
		p.flatten(name, defs)
	}
	for _, b := range bindings {
		p.bindings[b.Subject] = binding{roles: slices.Clip(b.Roles), collections: slices.Clip(b.Collections)}
	}
	return p
}

// flatten computes the grants of role name and of everything it inherits,
// memoized in p.roles. The roles have been checked: known resources and
// actions, an acyclic graph.
func (p *Policy) flatten(name string, defs map[string]*fileRole) *grants {
	if g := p.roles[name]; g != nil {
		return g
	}
	r := defs[name]
	g := &grants{named: map[string]Action{}}
	for _, perm := range r.Permissions {
		var level Action
		for _, a := range perm.Actions {
			act, _ := ParseAction(a)
			level = max(level, act)
		}
		kind, coll, _ := parseResource(perm.Resource)
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

// findCycles returns the inherits cycles, each as a path that starts and
// ends with the same role: one for every inherits entry that closes a
// cycle in a depth-first walk. Roles are visited in sorted order so the
// report is deterministic.
func findCycles(defs map[string]*fileRole) [][]string {
	const (
		unvisited = iota
		active
		done
	)
	state := make(map[string]int, len(defs))
	var path []string
	var cycles [][]string
	var visit func(name string)
	visit = func(name string) {
		switch state[name] {
		case active:
			i := slices.Index(path, name)
			cycle := append(slices.Clone(path[i:]), name)
			if !slices.ContainsFunc(cycles, func(c []string) bool { return slices.Equal(c, cycle) }) {
				cycles = append(cycles, cycle)
			}
			return
		case done:
			return
		}
		state[name] = active
		path = append(path, name)
		for _, parent := range defs[name].Inherits {
			if defs[parent] != nil { // else reported as unknown
				visit(parent)
			}
		}
		path = path[:len(path)-1]
		state[name] = done
	}
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		visit(n)
	}
	return cycles
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
