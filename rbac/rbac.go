package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// Action is what a request does. The actions are ordered: Admin includes
// Write, which includes Read, so a grant of Write also allows Read. The
// zero Action is invalid and never allowed.
type Action uint8

// The actions, weakest first.
const (
	Read Action = iota + 1
	Write
	Admin
)

// String returns "read", "write" or "admin".
func (a Action) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction parses "read", "write" or "admin".
func ParseAction(s string) (Action, error) {
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("rbac: unknown action %q (want read, write or admin)", s)
}

// Kind is the kind of a [Resource].
type Kind uint8

// The resource kinds.
const (
	KindServer     Kind = iota + 1 // the server itself: status, shutdown
	KindCollection                 // one named collection
)

// Resource is what an action applies to: the server, or one collection. The
// zero Resource is invalid and never allowed.
type Resource struct {
	Kind Kind
	Name string // the collection name; empty for the server
}

// Server returns the server resource, on which admin routes need Admin.
func Server() Resource { return Resource{Kind: KindServer} }

// Collection returns the resource for the named collection.
func Collection(name string) Resource { return Resource{Kind: KindCollection, Name: name} }

// String returns "server" or "collection:NAME", the roles file notation.
func (r Resource) String() string {
	switch r.Kind {
	case KindServer:
		return "server"
	case KindCollection:
		return "collection:" + r.Name
	}
	return "invalid"
}

// Subject is an authenticated caller as rbac sees it: a name (the
// identity's subject) and the roles and collections its credential grants.
// Bindings for the name add roles and collections; when the result names no
// role at all, the policy's default role applies. A collection "*" assigns
// every collection.
type Subject struct {
	Name        string
	Roles       []string
	Collections []string
}

// Policy decides what subjects may do. It is immutable and safe for
// concurrent use; reload by loading a new Policy and swapping the pointer.
// Build one with [Builtin] or [Load]; the zero Policy denies everything.
//
// A decision is a pure function of (subject, action, resource): the subject
// is allowed if one of its roles grants at least the action on the
// resource. A role's grants are its own permissions plus those of every role
// it inherits, transitively:
//   - resource "*": every collection and the server;
//   - "server": the server;
//   - "collection:NAME": that collection;
//   - "collection:*": every collection assigned to the subject (by its
//     credential or a binding; "*" assigns all). The built-in user and
//     reader roles are defined this way, so they act on assigned
//     collections only.
//
// Unknown role names in a subject grant nothing. Everything not granted is
// denied.
type Policy struct {
	roles       map[string]*grants
	bindings    map[string]binding
	defaultRole string
}

// grants is the flattened effect of one role, inheritance included. A
// level is the strongest action granted; zero grants nothing.
type grants struct {
	all      Action            // "*"
	server   Action            // "server"
	assigned Action            // "collection:*"
	named    map[string]Action // "collection:NAME"
}

// binding gives extra roles and collections to one subject name.
type binding struct {
	roles       []string
	collections []string
}

// Authorize returns nil if s may perform a on r, and otherwise a
// [*DeniedError] that wraps [ErrDenied]. It does not allocate when it
// allows.
func (p *Policy) Authorize(s Subject, a Action, r Resource) error {
	if a < Read || a > Admin || (r.Kind != KindServer && r.Kind != KindCollection) {
		return p.deny(s, a, r, ReasonInvalid)
	}
	b := p.bindings[s.Name]
	reason := ReasonNoPermission
	check := func(name string) bool {
		g := p.roles[name]
		if g == nil {
			return false
		}
		level := g.all
		if r.Kind == KindServer {
			level = max(level, g.server)
		} else {
			level = max(level, g.named[r.Name])
			if g.assigned >= a && level < a {
				if assigned(r.Name, s.Collections, b.collections) {
					level = g.assigned
				} else {
					reason = ReasonNotAssigned
				}
			}
		}
		return level >= a
	}
	named := false
	for _, name := range s.Roles {
		named = true
		if check(name) {
			return nil
		}
	}
	for _, name := range b.roles {
		named = true
		if check(name) {
			return nil
		}
	}
	if !named && p.defaultRole != "" && check(p.defaultRole) {
		return nil
	}
	return p.deny(s, a, r, reason)
}

func assigned(name string, lists ...[]string) bool {
	for _, l := range lists {
		for _, c := range l {
			if c == name || c == "*" {
				return true
			}
		}
	}
	return false
}

func (p *Policy) deny(s Subject, a Action, r Resource, reason string) error {
	return &DeniedError{Subject: s.Name, Action: a, Resource: r, Reason: reason}
}

// Roles returns the names of all roles, built-in and custom, sorted.
func (p *Policy) Roles() []string {
	names := make([]string, 0, len(p.roles))
	for n := range p.roles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// HasRole reports whether name is a role of p, built-in or custom: a
// credential that names another role would get nothing from it.
func (p *Policy) HasRole(name string) bool {
	_, ok := p.roles[name]
	return ok
}

// DefaultRole returns the role of subjects that name none.
func (p *Policy) DefaultRole() string { return p.defaultRole }

// parseResource parses the roles file notation of a permission's resource.
func parseResource(s string) (kind string, name string, err error) {
	switch {
	case s == "*":
		return "*", "", nil
	case s == "server":
		return "server", "", nil
	case s == "collection:*":
		return "collection:*", "", nil
	case strings.HasPrefix(s, "collection:"):
		name = strings.TrimPrefix(s, "collection:")
		if !ValidCollectionName(name) {
			return "", "", fmt.Errorf("resource %q: invalid collection name (letters, digits, '_', '.', '-'; first a letter or digit)", s)
		}
		return "collection", name, nil
	}
	return "", "", fmt.Errorf(`unknown resource %q (want "*", "server", "collection:*" or "collection:NAME")`, s)
}

// ValidCollectionName reports whether name matches API.md's collection
// name rule, ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$.
func ValidCollectionName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}
