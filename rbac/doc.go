// Package rbac decides whether an authenticated subject may perform an
// action on a resource, with role-based access control as API.md §4
// specifies. It knows nothing of HTTP: the server maps each route to an
// (action, resource) pair and each authenticated identity to a [Subject].
//
// # Model
//
// Actions are [Read], [Write] and [Admin], each including the weaker ones.
// Resources are the server ([Server]) and named collections
// ([Collection]). A [Policy] holds roles; a role grants actions on
// resources, directly or through the roles it inherits. The built-in roles
// are admin (everything, including shutdown), user (read and write on
// assigned collections) and reader (read on assigned collections). A
// subject's assigned collections are those its credential lists plus those
// its bindings add; "*" assigns every collection.
//
// # Roles file
//
// Custom roles and bindings come from a TOML file (authz.roles_file):
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
//	[[roles]]
//	name = "operator"
//	permissions = [{ resource = "server", actions = ["admin"] }]
//
//	[[bindings]]
//	subject = "node-1.example.com"   # JWT sub, API key user_id or certificate CN
//	roles = ["analyst"]
//	collections = ["metrics"]
//
// Resources are "*" (everything), "server", "collection:NAME" (that
// collection) and "collection:*" (the subject's assigned collections).
// [Load] rejects the whole file on any problem, listing them all in one
// error, one problem per line with the line of the file where it is:
// unknown keys, values of the wrong type, unknown roles in inherits or
// bindings, inherits cycles, redefined built-in roles, bad resources or
// actions. A reload that fails therefore leaves the previous policy in
// force.
//
// # TOML positions
//
// The TOML decoder gives no line for a key, so [ScanTOML] reads a document
// again and returns where its tables, keys and array elements are
// ([TOMLPositions]); [TOMLTypeName] names a decoded value's type. The roles
// file's messages use them, and so does the server's configuration loader,
// which sits above rbac in the import order and can therefore share them.
//
// # Decisions
//
// [Policy.Authorize] is a pure function of (subject, action, resource):
// allowed if some role of the subject grants at least the action on the
// resource, denied otherwise with a [*DeniedError] wrapping [ErrDenied].
// A subject whose credential and bindings name no role gets the default
// role (reader unless configured). Unknown role names grant nothing.
//
// # Concurrency
//
// A Policy is immutable and safe for concurrent use.
package rbac
