package rbac_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/rbac"
)

// manyProblems holds one of nearly every problem a roles file can have; its
// line numbers are those of wantManyProblems.
const manyProblems = `# every problem at once
[[roles]]
name = "ops"
colour = "red"
inherits = ["reader", "ghost"]
permissions = [
  { resource = "server", actions = ["read"] },
  { resource = "collections:x", actions = ["write", "fly"] },
  { actions = [] },
]

[[roles]]
name = "admin"

[[roles]]
description = "no name"

[[roles]]
name = "a"
inherits = ["b"]

[[roles]]
name = "b"
inherits = [
  "reader",
  "a",   # closes the cycle
  "nobody",
]

[[roles]]
name = "ops"

[[roles]]
name = "bad name"

[[roles]]
name = "perm"
description = """
[[roles]]
name = "not a header"
"""
[[roles.permissions]]
resource = "collection:-x"
actions = ["read"]
verb = "x"

[[bindings]]
subject = "node-1"
roles = ["ops", "nope", "bad name"]
collections = ["metrics", "a/b"]

[[bindings]]
roles = ["user"]

[[bindings]]
subject = "node-1"

[[bindings]]
subject = "x"
role = "user"
collections = "metrics"

[extra]
x = 1
`

var wantManyProblems = []string{
	`line 4: role "ops": unknown key "colour" (known: name, description, inherits, permissions)`,
	`line 5: role "ops": inherits unknown role "ghost"`,
	`line 8: role "ops": permission #2: unknown resource "collections:x" (want "*", "server", "collection:*" or "collection:NAME")`,
	`line 8: role "ops": permission #2: unknown action "fly" (read, write, admin)`,
	`line 9: role "ops": permission #3: resource is required ("*", "server", "collection:*" or "collection:NAME")`,
	`line 9: role "ops": permission #3: actions must list at least one of read, write, admin`,
	`line 13: role "admin": redefines a built-in role; define a new role that inherits it instead`,
	`line 15: roles #3: name is required`,
	`line 20: inherits cycle: a -> b -> a`,
	`line 27: role "b": inherits unknown role "nobody"`,
	`line 31: role "ops": defined twice (first at line 3); merge the definitions`,
	`line 34: role "bad name": invalid name (letters, digits, '_', '-', '.', ':')`,
	`line 43: role "perm": permission #1: resource "collection:-x": invalid collection name (letters, digits, '_', '.', '-'; first a letter or digit)`,
	`line 45: role "perm": permission #1: unknown key "verb" (known: resource, actions)`,
	`line 49: bindings #1 (subject "node-1"): unknown role "nope"`,
	`line 50: bindings #1 (subject "node-1"): invalid collection name "a/b"`,
	`line 52: bindings #2: subject is required (a JWT sub, API key user_id or certificate CN)`,
	`line 56: bindings #3 (subject "node-1"): subject already bound by bindings #1 (line 48); merge them`,
	`line 60: bindings #4 (subject "x"): unknown key "role" (known: subject, roles, collections)`,
	`line 61: bindings #4 (subject "x"): collections must be an array of strings, not a string`,
	`line 63: unknown key "extra" (known: roles, bindings)`,
	`default role "ghost2" is not defined (roles: a, admin, b, ops, perm, reader, user)`,
}

// problems returns the messages of the errors that err joins, which must
// each be on one line and start with prefix, without the prefix.
func problems(t *testing.T, err error, prefix string) []string {
	t.Helper()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %q is not an errors.Join", err)
	}
	var msgs []string
	for _, e := range j.Unwrap() {
		m := e.Error()
		if strings.Contains(m, "\n") || !strings.HasPrefix(m, prefix) {
			t.Errorf("problem %q is not one line starting with %q", m, prefix)
		}
		msgs = append(msgs, strings.TrimPrefix(m, prefix))
	}
	return msgs
}

// wantProblems checks that got holds exactly want, in order.
func wantProblems(t *testing.T, got, want []string) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("problem #%d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := rbac.Load([]byte(manyProblems), rbac.Options{DefaultRole: "ghost2"})
	if err == nil {
		t.Fatal("accepted")
	}
	wantProblems(t, problems(t, err, "rbac: roles file: "), wantManyProblems)

	// LoadFile names the file in every problem.
	path := filepath.Join(t.TempDir(), "roles.toml")
	if err := os.WriteFile(path, []byte(manyProblems), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = rbac.LoadFile(path, rbac.Options{DefaultRole: "ghost2"})
	if err == nil {
		t.Fatal("LoadFile accepted")
	}
	wantProblems(t, problems(t, err, "rbac: roles file "+path+": "), wantManyProblems)
}

// TestLoadAuditCases are the files of the audit that found Load reporting
// one kind of problem per run, and the line of a bad action wrong.
func TestLoadAuditCases(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"unknown key, cycle and unknown binding role together", `[[roles]]
name = "a"
colour = "red"
inherits = ["b"]

[[roles]]
name = "b"
inherits = ["a"]

[[bindings]]
subject = "s"
roles = ["nope"]
`, []string{
			`line 3: role "a": unknown key "colour" (known: name, description, inherits, permissions)`,
			`line 4: inherits cycle: a -> b -> a`,
			`line 12: bindings #1 (subject "s"): unknown role "nope"`,
		}},
		{"bad action on its own line", `[[roles]]
name = "ops"
permissions = [
  { resource = "server", actions = ["fly"] },
]

[[roles]]
name = "other"
permissions = [
  { resource = "server", actions = ["read"] },
]
`, []string{`line 4: role "ops": permission #1: unknown action "fly" (read, write, admin)`}},
		{"bad action in a permissions table", `[[roles]]
name = "ops"
[[roles.permissions]]
actions = ["fly"]
resource = "server"
[[roles]]
name = "other"
[[roles.permissions]]
resource = "server"
actions = ["read"]
`, []string{`line 4: role "ops": permission #1: unknown action "fly" (read, write, admin)`}},
		{"bindings checked despite a bad role", `[[roles]]
name = "admin"
[[roles]]
name = "ok"
permissions = [{ resource = "server", actions = ["fly"] }]
[[bindings]]
subject = "s"
roles = ["ok", "admin", "nope"]
`, []string{
			`line 2: role "admin": redefines a built-in role; define a new role that inherits it instead`,
			`line 5: role "ok": permission #1: unknown action "fly" (read, write, admin)`,
			`line 8: bindings #1 (subject "s"): unknown role "nope"`,
		}},
		{"syntax error stops the checks", "[[roles]]\nname = \"admin\"\ncolour = \n", []string{"line 3: invalid TOML: "}},
		{"wrong types", `roles = "analyst"
[[bindings]]
subject = 7
roles = "user"
`, []string{
			`line 1: roles must be an array of tables ([[roles]] or roles = [{ ... }]), not a string`,
			`line 3: bindings #1: subject must be a string, not an integer`,
			`line 4: bindings #1: roles must be an array of strings, not a string`,
		}},
		{"no line when the scan cannot tell", "[[roles]]\nname = \"a\"\n\"colo\\u0075r\" = 1\n", []string{
			`role "a": unknown key "colour" (known: name, description, inherits, permissions)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rbac.Load([]byte(tc.toml), rbac.Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			got := problems(t, err, "rbac: roles file: ")
			if strings.HasSuffix(tc.want[0], "invalid TOML: ") { // the decoder's message is its own
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.want[0]) {
					t.Errorf("got %q, want one problem starting with %q", got, tc.want[0])
				}
				return
			}
			wantProblems(t, got, tc.want)
		})
	}
}

func TestHasRole(t *testing.T) {
	p := loadTestPolicy(t)
	for name, want := range map[string]bool{"admin": true, "user": true, "reader": true, "analyst": true, "lead": true, "ghost": false, "": false} {
		if got := p.HasRole(name); got != want {
			t.Errorf("HasRole(%q) = %v", name, got)
		}
	}
	if !rbac.Builtin().HasRole("reader") || rbac.Builtin().HasRole("analyst") {
		t.Error("Builtin().HasRole is wrong")
	}
	if (&rbac.Policy{}).HasRole("admin") {
		t.Error("the zero Policy has a role")
	}
}

// TestLoadErrorIsJoined: a single problem is an errors.Join too, so that a
// caller can always print one problem per line.
func TestLoadErrorIsJoined(t *testing.T) {
	_, err := rbac.Load([]byte("[[roles]]\nname = \"admin\"\n"), rbac.Options{})
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 1 {
		t.Fatalf("error %v is not a join of one problem", err)
	}
}
