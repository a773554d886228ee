package server

import (
	"net/http"
	"net/url"
	"strconv"

	"amaters-server/rbac"
)

// collectionsResponse is the answer of GET /v1/collections.
type collectionsResponse struct {
	Collections []collectionItem `json:"collections"`
	More        bool             `json:"more"`
	// Next is the last name of this page; ?next= lists the names after it.
	Next string `json:"next,omitempty"`
}

type collectionItem struct {
	Name string `json:"name"`
}

// handleCollections lists the collections holding a live key that the
// caller may read, in name order, a page at a time (API.md §7). The store
// seeks from one collection to the next, never scanning keys; a
// collection the caller may not read is skipped silently (not audited: it
// is a filter, not a denial).
func (s *Server) handleCollections(w http.ResponseWriter, r *http.Request) error {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errInvalid("query string is not valid: %v", err)
	}
	limit := defaultRangeLimit
	for name, v := range vals {
		if name != "limit" && name != "next" && name != "consistency" {
			return errInvalid("unknown query parameter %q (limit, next, consistency)", truncate(name, 64))
		}
		if len(v) > 1 {
			return errInvalid("query parameter %q is given %d times", name, len(v))
		}
	}
	if l, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(l[0])
		if err != nil || n < 1 || n > maxRangeLimit {
			return errInvalid("limit must be an integer from 1 to %d", maxRangeLimit)
		}
		limit = n
	}
	after := vals.Get("next")
	if after != "" {
		if err := checkCollection(after); err != nil {
			return errInvalid("next must be the \"next\" value of a previous page")
		}
	}
	serializable := false
	if v, ok := vals["consistency"]; ok {
		if serializable, err = parseConsistency(v[0]); err != nil {
			return err
		}
	}
	if err := s.store.barrier(r.Context(), serializable); err != nil {
		return err
	}
	p := principalFrom(r)
	allow := func(c string) bool {
		if p.unrestricted {
			return true
		}
		policy := p.policy
		if policy == nil {
			policy = s.live.Load().policy
		}
		return policy.Authorize(p.subject(), rbac.Read, rbac.Collection(c)) == nil
	}
	names, more, err := s.store.eng.Collections(after, limit, s.now(), allow)
	if err != nil {
		return err
	}
	resp := collectionsResponse{Collections: make([]collectionItem, len(names)), More: more}
	for i, n := range names {
		resp.Collections[i].Name = n
	}
	if more && len(names) > 0 {
		resp.Next = names[len(names)-1]
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
