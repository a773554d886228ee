package config

import (
	"errors"
	"fmt"
	"slices"
)

// Options extend [LoadWith] for a program that embeds the server with
// configuration beyond API.md §2 (the cluster edition's [cluster]
// section, API.md §9).
type Options struct {
	// Sections are top-level tables the program reads itself.
	Sections []Section
}

// Section is a top-level table of the configuration file, and its
// AMATERS_<NAME>_* variables, that the embedding program declares and
// reads itself.
type Section struct {
	// Name is the table's name, lowercase letters only ("cluster"), not
	// one of API.md §2's sections.
	Name string
	// Load is called once by LoadWith, whether or not the file has the
	// section, after the file, the environment and the flags of the
	// other sections are applied. It applies the table and then the
	// variables (the variables win, as for every section), and returns
	// every problem, each a *Error: Where from SectionInput.Where for a
	// key of the file, "$AMATERS_NAME_KEY" for a variable; Key
	// "name.key". Problems are joined with the rest, so they print and
	// split ([Problems]) alike. nil: the section is accepted and left to
	// the program (the file and the variables are not read for it).
	Load func(in SectionInput) []error
}

// SectionInput is what [Section.Load] receives.
type SectionInput struct {
	// File is the configuration file, "" for none; Dir is its folder,
	// against which relative paths in the table are resolved.
	File, Dir string
	// Table is the section's table as the TOML decoder gave it (values
	// are string, int64, float64, bool, time.Time, []any or
	// map[string]any), nil when the file has none.
	Table map[string]any
	// Where returns where a key of the section ("node_id") is set in the
	// file: "FILE:LINE", or the file's name when the line is unknown.
	Where func(key string) string
	// Env holds the section's variables, by full name
	// ("AMATERS_CLUSTER_NODE_ID") .
	Env map[string]string
}

// editionSections are the sections of another edition, which a program
// that does not declare them refuses with a message saying where they
// belong: a configuration written for a cluster member must not quietly
// start a single node.
var editionSections = map[string]string{
	"cluster": "the [cluster] section is for amaters-server-cluster, the cluster edition (API.md §9); this program serves a single node: run amaters-server-cluster, or remove the section",
}

// checkSections refuses declarations that could not be read
// unambiguously: a program's mistake, not a configuration's.
func checkSections(secs []Section, builtin []string) error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range secs {
		switch {
		case !lowerLetters(s.Name):
			errs = append(errs, fmt.Errorf("config: Options.Sections[%d]: name %q must be lowercase letters", i, s.Name))
		case slices.Contains(builtin, s.Name):
			errs = append(errs, fmt.Errorf("config: Options.Sections[%d]: [%s] is a section of the server", i, s.Name))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("config: Options.Sections[%d]: [%s] is declared twice", i, s.Name))
		}
		seen[s.Name] = true
	}
	return errors.Join(errs...)
}

func lowerLetters(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}
