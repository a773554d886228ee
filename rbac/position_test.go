package rbac

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanPositions(t *testing.T) {
	text := "\ufeff# comment [[roles]]\r\n" + // 1
		"[[ roles ]] # the first\r\n" + // 2
		"\"name\" = 'a'\n" + // 3
		"description = '''\n" + // 4
		"[[roles]]\n" + // 5
		"name = \"\"\"x\\\n" + // 6
		"'''\n" + // 7
		"inherits = [ # comment\n" + // 8
		"  \"reader\",\n" + // 9
		"  'b', ]\n" + // 10
		"permissions = [{ resource = \"server\", actions = [\"read\"] }, {\n" + // 11
		"  resource = \"*\",\n" + // 12
		"  actions = [\"read\", [1, {x = 2}]], # ignored\n" + // 13
		"}]\n" + // 14
		"meta.when = 1979-05-27 07:32:00\n" + // 15
		"[[roles]]\n" + // 16
		"name = \"\"\"b\"\"\"\"\n" + // 17
		"[[roles.permissions]]\n" + // 18
		"resource = \"server\"\n" + // 19
		"[bindings]\n" + // 20
		"x.y = { z = [1,\n2] }\n" // 21
	if _, err := toml.Decode(text, new(map[string]any)); err != nil {
		t.Fatalf("the test's TOML: %v", err)
	}
	root := ScanTOML(text)
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: line %d, want %d", what, got, want)
		}
	}
	check("roles", root.Key("roles"), 2)
	check("bindings", root.Key("bindings"), 20)
	if root.Children("roles", 3) != nil {
		t.Fatalf("children accepts a wrong count")
	}
	roles := root.Children("roles", 2) // line 5 is in a string
	if roles == nil {
		t.Fatalf("roles: found %d", len(root.tables["roles"]))
	}
	a, b := roles[0], roles[1]
	check("roles #1", a.Line(), 2)
	check("name", a.Key("name"), 3)
	check("description", a.Key("description"), 4)
	check("inherits", a.Key("inherits"), 8)
	check("inherits[0]", a.Elem("inherits", 0, 2), 9)
	check("inherits[1]", a.Elem("inherits", 1, 2), 10)
	check("inherits[1] of a wrong count", a.Elem("inherits", 1, 3), 8)
	check("meta", a.Key("meta"), 15)
	perms := a.Children("permissions", 2)
	if perms == nil {
		t.Fatalf("permissions: found %d", len(a.tables["permissions"]))
	}
	check("permission #1", perms[0].Line(), 11)
	check("permission #1 actions", perms[0].Key("actions"), 11)
	check("permission #2", perms[1].Line(), 11)
	check("permission #2 resource", perms[1].Key("resource"), 12)
	check("permission #2 actions[0]", perms[1].Elem("actions", 0, 2), 13)
	check("roles #2", b.Line(), 16)
	check("roles #2 name", b.Key("name"), 17)
	bperms := b.Children("permissions", 1)
	if bperms == nil {
		t.Fatal("[[roles.permissions]] not found")
	}
	check("[[roles.permissions]]", bperms[0].Line(), 18)
	check("its resource", bperms[0].Key("resource"), 19)
	// Nil tables answer 0.
	var none *TOMLPositions
	check("nil", none.Key("x")+none.Line()+none.Elem("x", 0, 1), 0)
}

// FuzzScanPositions checks the scanner against the TOML decoder: for any
// text the decoder accepts, the scanner must find every key of every table,
// the same number of tables in each array of tables and of elements in
// each array, all on lines of the text. Keys with escapes are left out, as
// the scanner does not decode them.
func FuzzScanPositions(f *testing.F) {
	seed, err := os.ReadFile("testdata/roles.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("a = [{b = 1}, [2], 'c']\n[x.y]\nz.w = \"\"\"\n\"\"\"\"\n[[x.y.v]]\n[[x.y.v]]\nq = { r = 1, s = [ ] }\n")
	f.Fuzz(func(t *testing.T, text string) {
		var doc map[string]any
		if _, err := toml.Decode(text, &doc); err != nil || strings.Contains(text, `\`) {
			return
		}
		lines := strings.Count(text, "\n") + 1
		var walk func(path string, m map[string]any, at *TOMLPositions)
		walk = func(path string, m map[string]any, at *TOMLPositions) {
			for k, v := range m {
				p := path + "." + k
				if l := at.Key(k); l < 1 || l > lines {
					t.Fatalf("%s: line %d of %d", p, l, lines)
				}
				switch v := v.(type) {
				case map[string]any:
					ts := at.tables[k]
					if len(ts) == 0 {
						t.Fatalf("%s: table not found", p)
					}
					walk(p, v, ts[len(ts)-1])
				case []map[string]any:
					ts := at.Children(k, len(v))
					if ts == nil {
						t.Fatalf("%s: %d tables found, decoded %d", p, len(at.tables[k]), len(v))
					}
					for i, e := range v {
						walk(p, e, ts[i])
					}
				case []any:
					if len(at.elems[k]) != len(v) {
						t.Fatalf("%s: %d elements found, decoded %d", p, len(at.elems[k]), len(v))
					}
					var inline []map[string]any
					for i, e := range v {
						if l := at.Elem(k, i, len(v)); l < 1 || l > lines {
							t.Fatalf("%s[%d]: line %d of %d", p, i, l, lines)
						}
						if m, ok := e.(map[string]any); ok {
							inline = append(inline, m)
						}
					}
					ts := at.tables[k]
					if len(ts) != len(inline) {
						t.Fatalf("%s: %d inline tables found, decoded %d", p, len(at.tables[k]), len(inline))
					}
					for i, e := range inline {
						walk(p, e, ts[i])
					}
				}
			}
		}
		walk("", doc, ScanTOML(text))
	})
}
