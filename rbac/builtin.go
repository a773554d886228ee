package rbac

// The built-in roles (API.md §4). Custom roles may inherit them but not
// redefine them.
const (
	RoleAdmin  = "admin"  // everything, including shutdown
	RoleUser   = "user"   // read and write on assigned collections
	RoleReader = "reader" // read on assigned collections
)

// builtinRoles returns the built-in roles in roles file form, so that they
// go through the same compilation as custom roles.
func builtinRoles() []fileRole {
	return []fileRole{
		{Name: RoleAdmin, Description: "everything, including shutdown", Permissions: []filePermission{{Resource: "*", Actions: []actionText{"admin"}}}},
		{Name: RoleUser, Description: "read and write on assigned collections", Permissions: []filePermission{{Resource: "collection:*", Actions: []actionText{"read", "write"}}}},
		{Name: RoleReader, Description: "read on assigned collections", Permissions: []filePermission{{Resource: "collection:*", Actions: []actionText{"read"}}}},
	}
}

func isBuiltin(name string) bool {
	return name == RoleAdmin || name == RoleUser || name == RoleReader
}

// Builtin returns the policy of the built-in roles alone, with default role
// reader: what the server uses without a roles file.
func Builtin() *Policy {
	p, err := compile(nil, nil, RoleReader)
	if err != nil {
		panic("rbac: built-in roles do not compile: " + err.Error()) // a bug, not input
	}
	return p
}
