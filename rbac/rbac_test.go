package rbac_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/rbac"
)

func loadTestPolicy(t testing.TB) *rbac.Policy {
	t.Helper()
	p, err := rbac.LoadFile("testdata/roles.toml", rbac.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// decision is one row of a decision table.
type decision struct {
	subject  rbac.Subject
	action   rbac.Action
	resource rbac.Resource
	allow    bool
	reason   string // for denials; empty: any
}

func runDecisions(t *testing.T, p *rbac.Policy, rows []decision) {
	t.Helper()
	for _, d := range rows {
		name := d.subject.Name + "/" + strings.Join(d.subject.Roles, "+") + "/" + d.action.String() + "/" + d.resource.String()
		t.Run(name, func(t *testing.T) {
			err := p.Authorize(d.subject, d.action, d.resource)
			if d.allow {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			var de *rbac.DeniedError
			if !errors.As(err, &de) || !errors.Is(err, rbac.ErrDenied) {
				t.Fatalf("got %v, want a denial", err)
			}
			if d.reason != "" && de.Reason != d.reason {
				t.Errorf("reason %s, want %s", de.Reason, d.reason)
			}
			if de.Subject != d.subject.Name || de.Action != d.action || de.Resource != d.resource {
				t.Errorf("denial %+v does not describe the request", de)
			}
		})
	}
}

// TestBuiltinMatrix is the RBAC matrix of TESTING.md §3: built-in roles x
// {read, write, admin} x {assigned collection, unassigned collection,
// server}, deny by default.
func TestBuiltinMatrix(t *testing.T) {
	p := rbac.Builtin()
	orders, other, server := rbac.Collection("orders"), rbac.Collection("other"), rbac.Server()
	subj := func(role string, colls ...string) rbac.Subject {
		return rbac.Subject{Name: "s-" + role, Roles: []string{role}, Collections: colls}
	}
	type row struct {
		role                    string
		colls                   []string
		resource                rbac.Resource
		read, write, admin      bool
		readReason, writeReason string
	}
	rows := []row{
		{role: "admin", resource: orders, read: true, write: true, admin: true},
		{role: "admin", resource: other, read: true, write: true, admin: true},
		{role: "admin", resource: server, read: true, write: true, admin: true},
		{role: "user", colls: []string{"orders"}, resource: orders, read: true, write: true},
		{role: "user", colls: []string{"orders"}, resource: other, readReason: rbac.ReasonNotAssigned, writeReason: rbac.ReasonNotAssigned},
		{role: "user", colls: []string{"orders"}, resource: server, readReason: rbac.ReasonNoPermission},
		{role: "user", colls: []string{"*"}, resource: other, read: true, write: true},
		{role: "user", resource: orders, readReason: rbac.ReasonNotAssigned},
		{role: "reader", colls: []string{"orders"}, resource: orders, read: true, writeReason: rbac.ReasonNoPermission},
		{role: "reader", colls: []string{"orders"}, resource: other, readReason: rbac.ReasonNotAssigned},
		{role: "reader", colls: []string{"*"}, resource: other, read: true},
		{role: "reader", colls: []string{"*"}, resource: server},
		{role: "nobody", colls: []string{"*"}, resource: orders, readReason: rbac.ReasonNoPermission},
	}
	var ds []decision
	for _, r := range rows {
		s := subj(r.role, r.colls...)
		ds = append(ds,
			decision{s, rbac.Read, r.resource, r.read, r.readReason},
			decision{s, rbac.Write, r.resource, r.write, r.writeReason},
			decision{s, rbac.Admin, r.resource, r.admin, ""},
		)
	}
	runDecisions(t, p, ds)
}

func TestCustomRolesAndBindings(t *testing.T) {
	p := loadTestPolicy(t)
	logs, reports, metrics, orders := rbac.Collection("logs"), rbac.Collection("reports"), rbac.Collection("metrics"), rbac.Collection("orders")
	analyst := rbac.Subject{Name: "carol", Roles: []string{"analyst"}, Collections: []string{"orders"}}
	lead := rbac.Subject{Name: "dave", Roles: []string{"lead"}}
	node := rbac.Subject{Name: "node-1.example.com"} // mTLS: CN only, roles from the binding
	bob := rbac.Subject{Name: "bob", Roles: []string{"user"}}
	anon := rbac.Subject{Name: "eve"} // no roles: default role reader, no collections
	runDecisions(t, p, []decision{
		// collection:NAME grants regardless of assignment.
		{analyst, rbac.Read, logs, true, ""},
		{analyst, rbac.Write, logs, false, rbac.ReasonNoPermission},
		{analyst, rbac.Write, reports, true, ""},
		// inherited reader: assigned collections only.
		{analyst, rbac.Read, orders, true, ""},
		{analyst, rbac.Read, metrics, false, rbac.ReasonNotAssigned},
		{analyst, rbac.Admin, rbac.Server(), false, rbac.ReasonNoPermission},
		// transitive inheritance and server admin.
		{lead, rbac.Write, reports, true, ""},
		{lead, rbac.Admin, rbac.Server(), true, ""},
		{lead, rbac.Read, orders, false, rbac.ReasonNotAssigned},
		// binding gives roles and collections.
		{node, rbac.Read, logs, true, ""},
		{node, rbac.Read, metrics, true, ""},
		{node, rbac.Write, metrics, false, rbac.ReasonNoPermission},
		{node, rbac.Read, orders, false, rbac.ReasonNotAssigned},
		// binding adds collections to the credential's roles.
		{bob, rbac.Write, orders, true, ""},
		{bob, rbac.Write, logs, false, rbac.ReasonNotAssigned},
		// default role.
		{anon, rbac.Read, orders, false, rbac.ReasonNotAssigned},
		{rbac.Subject{Name: "eve", Collections: []string{"orders"}}, rbac.Read, orders, true, ""},
		{rbac.Subject{Name: "eve", Collections: []string{"orders"}}, rbac.Write, orders, false, ""},
		// an unknown role is not "no role": no default role then.
		{rbac.Subject{Name: "eve", Roles: []string{"ghost"}, Collections: []string{"orders"}}, rbac.Read, orders, false, rbac.ReasonNoPermission},
		// "*" resource reads everything, assigned or not, but not the server's admin.
		{rbac.Subject{Name: "x", Roles: []string{"auditor"}}, rbac.Read, metrics, true, ""},
		{rbac.Subject{Name: "x", Roles: []string{"auditor"}}, rbac.Read, rbac.Server(), true, ""},
		{rbac.Subject{Name: "x", Roles: []string{"auditor"}}, rbac.Write, metrics, false, ""},
		// invalid requests.
		{analyst, 0, logs, false, rbac.ReasonInvalid},
		{analyst, rbac.Read, rbac.Resource{}, false, rbac.ReasonInvalid},
	})
}

func TestDefaultRoleOption(t *testing.T) {
	p, err := rbac.Load(nil, rbac.Options{DefaultRole: "user"})
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultRole() != "user" {
		t.Errorf("DefaultRole = %q", p.DefaultRole())
	}
	s := rbac.Subject{Name: "eve", Collections: []string{"orders"}}
	if err := p.Authorize(s, rbac.Write, rbac.Collection("orders")); err != nil {
		t.Errorf("default role user cannot write: %v", err)
	}
	if got := strings.Join(p.Roles(), ","); got != "admin,reader,user" {
		t.Errorf("Roles = %s", got)
	}
	if got := rbac.Builtin().DefaultRole(); got != "reader" {
		t.Errorf("Builtin default role %q", got)
	}
	if err := (&rbac.Policy{}).Authorize(rbac.Subject{Name: "a", Roles: []string{"admin"}}, rbac.Read, rbac.Server()); err == nil {
		t.Error("zero Policy allowed a request")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		opts rbac.Options
		want []string
	}{
		{"syntax", "[[roles]]\nname = \"a\"\nname = ", rbac.Options{}, []string{"line 3"}},
		{"unknown key", "[[roles]]\nname = \"a\"\npermision = []", rbac.Options{}, []string{"line 3", `role "a": unknown key "permision" (known: name, description, inherits, permissions)`}},
		{"unknown top key", "[[role]]\nname = \"a\"", rbac.Options{}, []string{"line 1", `unknown key "role" (known: roles, bindings)`}},
		{"unknown resource", "[[roles]]\nname = \"a\"\n\n[[roles.permissions]]\nresource = \"collections:x\"\nactions = [\"read\"]", rbac.Options{}, []string{"line 5", `unknown resource "collections:x"`}},
		{"bad collection", "[[roles]]\nname = \"a\"\npermissions = [{resource = \"collection:-x\", actions = [\"read\"]}]", rbac.Options{}, []string{"invalid collection name"}},
		{"unknown action", "[[roles]]\nname = \"a\"\npermissions = [{resource = \"server\", actions = [\"delete\"]}]", rbac.Options{}, []string{"line 3", `unknown action "delete"`}},
		{"no actions", "[[roles]]\nname = \"a\"\npermissions = [{resource = \"server\", actions = []}]", rbac.Options{}, []string{"at least one"}},
		{"no resource", "[[roles]]\nname = \"a\"\npermissions = [{actions = [\"read\"]}]", rbac.Options{}, []string{"resource is required"}},
		{"no name", "[[roles]]\ndescription = \"x\"", rbac.Options{}, []string{"roles #1: name is required"}},
		{"bad name", "[[roles]]\nname = \"a b\"", rbac.Options{}, []string{"invalid name"}},
		{"redefine builtin", "[[roles]]\nname = \"admin\"", rbac.Options{}, []string{`role "admin": redefines a built-in role`}},
		{"defined twice", "[[roles]]\nname = \"a\"\n[[roles]]\nname = \"a\"", rbac.Options{}, []string{`role "a": defined twice`}},
		{"unknown inherits", "[[roles]]\nname = \"a\"\ninherits = [\"ghost\"]", rbac.Options{}, []string{`role "a": inherits unknown role "ghost"`}},
		{"self cycle", "[[roles]]\nname = \"a\"\ninherits = [\"a\"]", rbac.Options{}, []string{"inherits cycle: a -> a"}},
		{"cycle", "[[roles]]\nname = \"a\"\ninherits = [\"reader\", \"b\"]\n[[roles]]\nname = \"b\"\ninherits = [\"c\"]\n[[roles]]\nname = \"c\"\ninherits = [\"a\"]", rbac.Options{}, []string{"inherits cycle: a -> b -> c -> a"}},
		{"binding unknown role", "[[bindings]]\nsubject = \"x\"\nroles = [\"ghost\"]", rbac.Options{}, []string{`bindings #1 (subject "x"): unknown role "ghost"`}},
		{"binding no subject", "[[bindings]]\nroles = [\"user\"]", rbac.Options{}, []string{"bindings #1: subject is required"}},
		{"binding twice", "[[bindings]]\nsubject = \"x\"\n[[bindings]]\nsubject = \"x\"", rbac.Options{}, []string{"already bound by bindings #1"}},
		{"binding bad collection", "[[bindings]]\nsubject = \"x\"\ncollections = [\"a/b\"]", rbac.Options{}, []string{`invalid collection name "a/b"`}},
		{"unknown default role", "", rbac.Options{DefaultRole: "ghost"}, []string{`default role "ghost" is not defined`}},
		{"every problem at once", "[[roles]]\nname = \"admin\"\n[[roles]]\nname = \"a\"\ninherits = [\"ghost\"]", rbac.Options{}, []string{"redefines", "ghost"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rbac.Load([]byte(tc.toml), tc.opts)
			if err == nil {
				t.Fatalf("accepted: roles %v", p.Roles())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := rbac.LoadFile(filepath.Join(t.TempDir(), "missing.toml"), rbac.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "roles.toml")
	if err := os.WriteFile(bad, []byte("[[roles]]\nname = \"admin\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.LoadFile(bad, rbac.Options{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("error %v does not name the file", err)
	}
	p := loadTestPolicy(t)
	if got := strings.Join(p.Roles(), ","); got != "admin,analyst,auditor,lead,operator,reader,user" {
		t.Errorf("Roles = %s", got)
	}
}

func TestAuthorizeDoesNotAllocate(t *testing.T) {
	p := loadTestPolicy(t)
	s := rbac.Subject{Name: "node-1.example.com", Collections: []string{"a", "b"}}
	r := rbac.Collection("metrics")
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Authorize(s, rbac.Read, r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Authorize allocates %.0f times when it allows", allocs)
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range []rbac.Action{rbac.Read, rbac.Write, rbac.Admin} {
		got, err := rbac.ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, s := range []string{"", "Read", "delete"} {
		if _, err := rbac.ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) accepted", s)
		}
	}
}

func TestValidCollectionName(t *testing.T) {
	for name, want := range map[string]bool{
		"orders": true, "a": true, "A.b_c-9": true, strings.Repeat("x", 128): true,
		"": false, "-a": false, "_a": false, ".a": false, "a/b": false, "a b": false, strings.Repeat("x", 129): false, "*": false,
	} {
		if got := rbac.ValidCollectionName(name); got != want {
			t.Errorf("ValidCollectionName(%q) = %v", name, got)
		}
	}
}
