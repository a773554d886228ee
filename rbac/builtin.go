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
		{Name: RoleAdmin, Description: "everything, including shutdown", Permissions: []filePermission{{Resource: "*", Actions: []string{"admin"}}}},
		{Name: RoleUser, Description: "read and write on assigned collections", Permissions: []filePermission{{Resource: "collection:*", Actions: []string{"read", "write"}}}},
		{Name: RoleReader, Description: "read on assigned collections", Permissions: []filePermission{{Resource: "collection:*", Actions: []string{"read"}}}},
	}
}

// builtinDefs returns the built-in roles by name, where a roles file adds
// its own.
func builtinDefs() map[string]*fileRole {
	defs := make(map[string]*fileRole)
	for _, r := range builtinRoles() {
		defs[r.Name] = &r
	}
	return defs
}

func isBuiltin(name string) bool {
	return name == RoleAdmin || name == RoleUser || name == RoleReader
}

// Builtin returns the policy of the built-in roles alone, with default role
// reader: what the server uses without a roles file.
func Builtin() *Policy {
	return build(builtinDefs(), nil, RoleReader)
}
