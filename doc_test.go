package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackagesAreDocumented fails when a package of the product has no
// package comment, or a public package no doc.go.
func TestPackagesAreDocumented(t *testing.T) {
	dirs := map[string]bool{".": true}
	filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "bench" || path == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	for dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		for name, pkg := range pkgs {
			documented := false
			for _, f := range pkg.Files {
				documented = documented || f.Doc != nil
			}
			if !documented {
				t.Errorf("package %s in %s has no package comment", name, dir)
			}
			// Public packages keep their documentation in doc.go; the
			// byte-format packages under internal/ may open their format
			// file with it instead.
			if _, err := os.Stat(filepath.Join(dir, "doc.go")); name != "main" && !strings.Contains(dir, "internal") && err != nil {
				t.Errorf("package %s in %s has no doc.go", name, dir)
			}
		}
	}
}

// TestDependencies keeps the product's go.mod to the three modules it may
// depend on; comparisons with other libraries live in bench/, its own module.
func TestDependencies(t *testing.T) {
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"golang.org/x/crypto": true, "golang.org/x/time": true, "github.com/BurntSushi/toml": true, "golang.org/x/sys": true}
	inRequire := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			inRequire = true
			continue
		case line == ")":
			inRequire = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !inRequire:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		mod := fields[0]
		if !allowed[mod] {
			t.Errorf("go.mod requires %s; the product may depend only on golang.org/x/crypto, golang.org/x/time and github.com/BurntSushi/toml", mod)
		}
		if mod == "golang.org/x/sys" && !strings.Contains(line, "// indirect") {
			t.Errorf("golang.org/x/sys may only come in indirectly, through x/crypto")
		}
	}
}
