package rbac_test

import (
	"errors"
	"fmt"

	"amaters-server/rbac"
)

func ExamplePolicy_Authorize() {
	p, err := rbac.Load([]byte(`
[[roles]]
name = "analyst"
inherits = ["reader"]
permissions = [{ resource = "collection:reports", actions = ["write"] }]

[[bindings]]
subject = "node-1"
roles = ["analyst"]
collections = ["metrics"]
`), rbac.Options{})
	if err != nil {
		panic(err)
	}
	node := rbac.Subject{Name: "node-1"} // a client certificate's CN: roles come from the binding
	fmt.Println(p.Authorize(node, rbac.Read, rbac.Collection("metrics")))
	fmt.Println(p.Authorize(node, rbac.Write, rbac.Collection("reports")))
	fmt.Println(p.Authorize(node, rbac.Write, rbac.Collection("metrics")))

	alice := rbac.Subject{Name: "alice", Roles: []string{"user"}, Collections: []string{"orders"}}
	err = p.Authorize(alice, rbac.Write, rbac.Collection("billing"))
	var de *rbac.DeniedError
	fmt.Println(errors.Is(err, rbac.ErrDenied), errors.As(err, &de) && de.Reason == rbac.ReasonNotAssigned)
	fmt.Println(p.Authorize(alice, rbac.Admin, rbac.Server()))
	// Output:
	// <nil>
	// <nil>
	// rbac: node-1 may not write collection:metrics: no_permission
	// true true
	// rbac: alice may not admin server: no_permission
}

func ExampleBuiltin() {
	p := rbac.Builtin()
	reader := rbac.Subject{Name: "dash", Roles: []string{"reader"}, Collections: []string{"*"}}
	fmt.Println(p.Authorize(reader, rbac.Read, rbac.Collection("anything")))
	fmt.Println(p.Authorize(reader, rbac.Write, rbac.Collection("anything")) != nil)
	// Output:
	// <nil>
	// true
}
