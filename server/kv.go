package server

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultRangeLimit = 100
	maxRangeLimit     = 10000
	// maxPageBytes ends a range page early when its keys and values
	// reach it, so that a page of large values stays a bounded answer.
	maxPageBytes = 4 << 20
)

// pathKey reads and checks the {c} and {key} path values, which the router
// put in the request's exchange (routeHandler.serve). The key stays a
// string (the unescaped bytes of the path) until it becomes an engine key.
func (s *Server) pathKey(r *http.Request) (c, key string, err error) {
	ex := exchangeFrom(r)
	c = ex.collection
	if err := checkCollection(c); err != nil {
		return "", "", err
	}
	key = ex.key
	if err := s.checkKey(len(key)); err != nil {
		return "", "", err
	}
	return c, key, nil
}

func checkCollection(c string) error {
	if !validCollection(c) {
		return errInvalid("collection name %q must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", truncate(c, 140))
	}
	return nil
}

func (s *Server) checkKey(n int) error {
	if n == 0 {
		return errInvalid("key must not be empty")
	}
	if max := s.cfg.Storage.MaxKeyBytes; int64(n) > max {
		return errTooLarge("key is %d bytes; the limit (storage.max_key_bytes) is %d", n, max)
	}
	return nil
}

func (s *Server) checkValue(v []byte) error {
	if max := s.cfg.Storage.MaxValueBytes; int64(len(v)) > max {
		return errTooLarge("value is %d bytes; the limit (storage.max_value_bytes) is %d", len(v), max)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) error {
	c, key, err := s.pathKey(r)
	if err != nil {
		return err
	}
	value, err := readBody(w, r, s.cfg.Storage.MaxValueBytes)
	if err != nil {
		return err
	}
	if err := s.store.Put(c, key, value); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readBody reads the whole request body, refusing more than limit bytes
// with 413 (before reading them when Content-Length already says so), in a
// buffer that grows as bytes arrive, under the body budget (budget.go).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readBounded(r, limit, "storage.max_value_bytes")
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	c, key, err := s.pathKey(r)
	if err != nil {
		return err
	}
	value, err := s.store.Get(c, key)
	if err != nil {
		return err
	}
	// Canonical names, assigned directly: Set would canonicalize each and
	// allocate each value.
	h := w.Header()
	h["Content-Type"] = octetStream
	h["Content-Length"] = exchangeFrom(r).lengthValue(len(value))
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(value)
	}
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	c, key, err := s.pathKey(r)
	if err != nil {
		return err
	}
	if err := s.store.Delete(c, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rangeQuery is a parsed range request.
type rangeQuery struct {
	Start, End []byte // nil = unbounded
	Limit      int
}

// parseRangeQuery reads start, end, prefix, next and limit from a raw query
// string. start and end are raw bytes, percent-encoded; prefix narrows the
// range to keys that begin with it (and may be combined with start/end, which
// is how a prefixed scan pages); next is the base64 "next" of a previous page
// and replaces start, so a client pages by adding next to its first query. Unknown or repeated parameters are errors.
func parseRangeQuery(rawQuery string, maxKey int64) (rangeQuery, error) {
	q := rangeQuery{Limit: defaultRangeLimit}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, errInvalid("query string is not valid: %v", err)
	}
	// Walk the parameters in the order the client wrote them, so the
	// error names the first bad one every time (a map's order would vary).
	for rest := rawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(part, "=")
		if name, err = url.QueryUnescape(name); err != nil || part == "" {
			continue // ParseQuery accepted the whole string; empty parts are skipped
		}
		switch name {
		case "start", "end", "prefix", "next", "limit":
		default:
			return q, errInvalid("unknown query parameter %q (start, end, prefix, next, limit)", truncate(name, 64))
		}
		if n := len(vals[name]); n > 1 {
			return q, errInvalid("query parameter %q is given %d times", name, n)
		}
	}
	get := func(name string) ([]byte, bool) {
		v, ok := vals[name]
		if !ok || v[0] == "" {
			return nil, false
		}
		return []byte(v[0]), true
	}
	for _, name := range []string{"start", "end", "prefix"} {
		if v, ok := get(name); ok && int64(len(v)) > maxKey {
			return q, errTooLarge("%s is %d bytes; keys are at most %d", name, len(v), maxKey)
		}
	}
	q.Start, _ = get("start")
	q.End, _ = get("end")
	if next, ok := get("next"); ok {
		// A '+' sent unescaped in a query decodes as a space; base64 has
		// no spaces, so put it back.
		raw := strings.ReplaceAll(string(next), " ", "+")
		b, err := base64.StdEncoding.Strict().DecodeString(raw)
		if err != nil || len(b) == 0 || int64(len(b)) > maxKey {
			return q, errInvalid("next must be the base64 \"next\" value of a previous page")
		}
		q.Start = b
	}
	if prefix, ok := get("prefix"); ok {
		if q.Start == nil || bytes.Compare(q.Start, prefix) < 0 {
			q.Start = prefix
		}
		if pe := prefixEnd(prefix); pe != nil && (q.End == nil || bytes.Compare(pe, q.End) < 0) {
			q.End = pe
		}
	}
	if l, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(l[0])
		if err != nil || n < 1 || n > maxRangeLimit {
			return q, errInvalid("limit must be an integer from 1 to %d", maxRangeLimit)
		}
		q.Limit = n
	}
	return q, nil
}

type rangeItem struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

type rangeResponse struct {
	Items []rangeItem `json:"items"`
	More  bool        `json:"more"`
	Next  []byte      `json:"next,omitempty"`
}

func (s *Server) handleRange(w http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("c")
	if err := checkCollection(c); err != nil {
		return err
	}
	q, err := parseRangeQuery(r.URL.RawQuery, s.cfg.Storage.MaxKeyBytes)
	if err != nil {
		return err
	}
	resp := rangeResponse{Items: []rangeItem{}}
	if q.End != nil && bytes.Compare(q.Start, q.End) >= 0 {
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	var key [32]byte
	var tag uint64
	if s.cache != nil {
		key = rangeKey(c, q, maxPageBytes)
		// The generation is read before the engine: see queryCache.
		tag = s.cache.rangeGen(c)
		if e, ok := s.cache.lookup(key, tag); ok {
			writeJSONBody(w, http.StatusOK, e.data)
			return nil
		}
	}
	items, more, next, err := s.store.Range(c, q.Start, q.End, q.Limit, maxPageBytes)
	if err != nil {
		return err
	}
	for _, it := range items {
		v := it.Value
		if v == nil {
			v = []byte{}
		}
		resp.Items = append(resp.Items, rangeItem{Key: it.Key, Value: v})
	}
	resp.More = more
	if more {
		resp.Next = next
	}
	body := encodeJSON(resp)
	if s.cache != nil {
		s.cache.fill(key, tag, true, body)
	}
	writeJSONBody(w, http.StatusOK, body)
	return nil
}
