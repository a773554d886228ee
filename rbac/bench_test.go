package rbac_test

import (
	"testing"

	"amaters-server/rbac"
)

// BenchmarkAuthorize measures one decision, as a batch of 10 000 ops makes
// 10 000 of them.
func BenchmarkAuthorize(b *testing.B) {
	p := loadTestPolicy(b)
	cases := []struct {
		name string
		s    rbac.Subject
		a    rbac.Action
		r    rbac.Resource
	}{
		{"builtin-user-allow", rbac.Subject{Name: "alice", Roles: []string{"user"}, Collections: []string{"a", "b", "orders"}}, rbac.Write, rbac.Collection("orders")},
		{"binding-allow", rbac.Subject{Name: "node-1.example.com"}, rbac.Read, rbac.Collection("logs")},
		{"deny", rbac.Subject{Name: "eve", Roles: []string{"reader"}}, rbac.Write, rbac.Collection("orders")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Authorize(c.s, c.a, c.r)
			}
		})
	}
}
