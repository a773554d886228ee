package rbac_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"amaters-server/rbac"
)

// FuzzRolesFile loads arbitrary roles files. It must never panic; an error
// must join problems of one line each, naming lines of the file; and any
// policy it returns must be monotone in the action: whatever a subject may
// do with Admin it may do with Write, and with Write it may do with Read.
func FuzzRolesFile(f *testing.F) {
	seed, err := os.ReadFile("testdata/roles.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("[[roles]]\nname = \"a\"\ninherits = [\"a\"]"))
	f.Add([]byte("[[roles]]\nname = \"a\"\npermissions = [{resource = \"collection:x\", actions = [\"admin\"]}]\n[[bindings]]\nsubject = \"s\"\nroles = [\"a\"]\ncollections = [\"*\"]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rbac.Load(data, rbac.Options{})
		if err != nil {
			checkProblems(t, data, err)
			return
		}
		resources := []rbac.Resource{rbac.Server(), rbac.Collection("x"), rbac.Collection("logs"), rbac.Collection("metrics")}
		for _, role := range append(p.Roles(), "") {
			var roles []string
			if role != "" {
				roles = []string{role}
			}
			for _, name := range []string{"s", "node-1.example.com", "bob"} {
				for _, colls := range [][]string{nil, {"x"}, {"*"}} {
					s := rbac.Subject{Name: name, Roles: roles, Collections: colls}
					for _, r := range resources {
						admin := p.Authorize(s, rbac.Admin, r) == nil
						write := p.Authorize(s, rbac.Write, r) == nil
						read := p.Authorize(s, rbac.Read, r) == nil
						if admin && !write || write && !read {
							t.Fatalf("%+v on %v: admin %v write %v read %v", s, r, admin, write, read)
						}
					}
				}
			}
		}
	})
}

// checkProblems checks an error of Load: one or more problems, each on one
// line, and every line number it names within the file.
func checkProblems(t *testing.T, data []byte, err error) {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) == 0 {
		t.Fatalf("error %q is not a join of problems", err)
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, e := range j.Unwrap() {
		msg, ok := strings.CutPrefix(e.Error(), "rbac: roles file: ")
		if !ok || strings.Contains(msg, "\n") {
			t.Fatalf("problem %q is not one line starting with the prefix", e)
		}
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			n, _, _ := strings.Cut(rest, ":")
			if l, err := strconv.Atoi(n); err != nil || l < 1 || l > lines {
				t.Fatalf("problem %q names a line not in the file (%d lines)", e, lines)
			}
		}
	}
}
