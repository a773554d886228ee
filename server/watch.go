package server

import (
	"net/http"

	"amaters-server/rbac"
	"amaters-server/server/watch"
)

// handleWatch streams a collection's changes (API.md §8) through the hub
// Run made (server/watch). Read access was checked by the route; a reload
// that takes it away ends the stream (revokeWatches).
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("c")
	if err := checkCollection(c); err != nil {
		return err
	}
	src, ok := s.store.eng.(watch.Source)
	if !ok {
		return &apiError{status: http.StatusNotImplemented, code: "unimplemented", message: "this storage engine has no change feed"}
	}
	hub := s.watch.Load()
	if hub == nil {
		return errUnavailable("the server is not serving yet")
	}
	hub.Serve(w, r, src, watch.Request{Collection: c, Identity: principalFrom(r)})
	return nil
}

// revokeWatches ends, with "permission_denied", the watches whose identity
// may no longer read their collection under the roles policy a reload
// installed. An identity's own roles and collections come from its token or
// key at authentication; a removed API key is not noticed here (its watch
// ends at the next reconnect, which authenticates again).
func (s *Server) revokeWatches(policy *rbac.Policy) {
	hub := s.watch.Load()
	if hub == nil {
		return
	}
	hub.Revoke(func(identity any, c string) bool {
		p, ok := identity.(principal)
		if !ok {
			return false
		}
		return p.unrestricted || policy.Authorize(p.subject(), rbac.Read, rbac.Collection(c)) == nil
	})
}
