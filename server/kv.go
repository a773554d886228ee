package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"amaters-server/server/store"
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
	ttl, err := parsePutQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	guard, err := writeGuard(r.Header, true)
	if err != nil {
		return err
	}
	value, err := readBody(w, r, s.cfg.Storage.MaxValueBytes)
	if err != nil {
		return err
	}
	now := s.now()
	op := store.Op{Kind: store.OpPut, Collection: c, Key: []byte(key), Value: value, Guard: guard}
	if ttl > 0 {
		op.ExpiresAt = now.Add(time.Duration(ttl) * time.Second)
	}
	hdr := new(getHeaders)
	res, err := s.store.Write(r.Context(), opSet, store.Request{Ops: []store.Op{op}, Now: now}, hdr)
	if err != nil {
		return writeFailure(res, err, false)
	}
	h := w.Header()
	h["Etag"] = hdr.etag
	h[revisionHeader] = hdr.rev
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
	serializable, err := parseGetQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if err := s.store.barrier(r.Context(), serializable); err != nil {
		return err
	}
	inm, hasINM := r.Header["If-None-Match"]
	g, err := s.store.Get(c, key)
	h := w.Header()
	if g.hdr != nil {
		h[revisionHeader] = g.hdr.rev
	}
	if err != nil {
		return err
	}
	// Canonical names, assigned directly: Set would canonicalize each and
	// allocate each value.
	h["Etag"] = g.hdr.etag
	if g.hdr.expires != nil {
		h[expiresHeader] = g.hdr.expires
	}
	if hasINM && noneMatch(inm, g.ModRevision) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h["Content-Type"] = octetStream
	h["Content-Length"] = exchangeFrom(r).lengthValue(len(g.Value))
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(g.Value)
	}
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	c, key, err := s.pathKey(r)
	if err != nil {
		return err
	}
	guard, err := writeGuard(r.Header, false)
	if err != nil {
		return err
	}
	res, err := s.store.Write(r.Context(), opDelete, store.Request{Ops: []store.Op{{Kind: store.OpDelete, Collection: c, Key: []byte(key), Guard: guard}}}, nil)
	if err != nil {
		return writeFailure(res, err, false)
	}
	w.Header()[revisionHeader] = []string{strconv.FormatUint(res.Revision, 10)}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rangeQuery is a parsed range request.
type rangeQuery struct {
	Start, End []byte // nil = unbounded
	Limit      int
	// Serializable: ?consistency=serializable, no read barrier. Not part
	// of the query cache's key (the cache is off with an engine that has
	// a barrier, and the answer is the same either way without one).
	Serializable bool
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
		case "start", "end", "prefix", "next", "limit", "consistency":
		default:
			return q, errInvalid("unknown query parameter %q (start, end, prefix, next, limit, consistency)", truncate(name, 64))
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
	if v, ok := vals["consistency"]; ok {
		if q.Serializable, err = parseConsistency(v[0]); err != nil {
			return q, err
		}
	}
	return q, nil
}

type rangeItem struct {
	Key       []byte `json:"key"`
	Value     []byte `json:"value"`
	Revision  uint64 `json:"revision"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

type rangeResponse struct {
	Items    []rangeItem `json:"items"`
	More     bool        `json:"more"`
	Next     []byte      `json:"next,omitempty"`
	Revision uint64      `json:"revision"`
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
	if err := s.store.barrier(r.Context(), q.Serializable); err != nil {
		return err
	}
	body, rev, err := s.store.RangePage(c, q)
	if err != nil {
		return err
	}
	w.Header()[revisionHeader] = []string{strconv.FormatUint(rev, 10)}
	writeJSONBody(w, http.StatusOK, body)
	return nil
}

// Headers of API.md §7.
const (
	revisionHeader = "Amaters-Revision"
	expiresHeader  = "Amaters-Expires-At"
)

// etag is the strong entity tag of a mod revision: the decimal, quoted.
func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// formatExpiry writes an expiry as RFC 3339 UTC, to the millisecond the
// store keeps.
func formatExpiry(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999Z07:00") }

// parseETag reads one entity tag `"N"` (N ≥ 1, decimal, as etag writes
// it), optionally weak (W/"N") when weakOK.
func parseETag(t string, weakOK bool) (uint64, bool) {
	if weakOK {
		t = strings.TrimPrefix(t, "W/")
	}
	if len(t) < 3 || t[0] != '"' || t[len(t)-1] != '"' {
		return 0, false
	}
	d := t[1 : len(t)-1]
	if d[0] < '1' || d[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(d, 10, 64)
	return n, err == nil
}

// writeGuard reads the precondition of a PUT (put) or DELETE: If-Match:
// "N" or *, or, for a PUT, If-None-Match: *. Anything else in them is a
// 400: a guard the server cannot honour must not be ignored.
func writeGuard(h http.Header, put bool) (store.Guard, error) {
	im, hasIM := h["If-Match"]
	inm, hasINM := h["If-None-Match"]
	switch {
	case hasIM && hasINM:
		return store.Guard{}, errInvalid("give If-Match or If-None-Match, not both")
	case hasIM:
		if len(im) != 1 {
			return store.Guard{}, errInvalid("If-Match is given %d times; give one entity tag or *", len(im))
		}
		v := strings.TrimSpace(im[0])
		if v == "*" {
			return store.Guard{Kind: store.GuardExists}, nil
		}
		rev, ok := parseETag(v, false)
		if !ok {
			return store.Guard{}, errInvalid("If-Match must be * or one strong entity tag \"N\" (a mod revision from an ETag), not %q", truncate(v, 64))
		}
		return store.Guard{Kind: store.GuardRevision, Revision: rev}, nil
	case hasINM:
		if !put {
			return store.Guard{}, errInvalid("If-None-Match is not a precondition of DELETE; use If-Match")
		}
		if len(inm) != 1 || strings.TrimSpace(inm[0]) != "*" {
			return store.Guard{}, errInvalid("If-None-Match on PUT must be * (create only if absent)")
		}
		return store.Guard{Kind: store.GuardAbsent}, nil
	}
	return store.Guard{}, nil
}

// noneMatch reports whether a GET's If-None-Match values match the mod
// revision rev of an existing key (weak comparison, RFC 9110 §13.1.2).
// Tags that do not parse match nothing.
func noneMatch(vals []string, rev uint64) bool {
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			if n, ok := parseETag(t, true); ok && n == rev {
				return true
			}
		}
	}
	return false
}

// parsePutQuery reads a PUT's query: ttl=SECONDS (1 … maxTTL), or none.
func parsePutQuery(raw string) (int64, error) {
	if raw == "" {
		return 0, nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return 0, errInvalid("query string is not valid: %v", err)
	}
	// In the order the client wrote them, so the error names the first
	// bad one every time.
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(part, "=")
		if name, err = url.QueryUnescape(name); err != nil || part == "" {
			continue
		}
		if name != "ttl" {
			return 0, errInvalid("unknown query parameter %q (PUT takes ttl)", truncate(name, 64))
		}
	}
	if n := len(vals["ttl"]); n > 1 {
		return 0, errInvalid("query parameter \"ttl\" is given %d times", n)
	}
	if _, ok := vals["ttl"]; !ok {
		return 0, nil
	}
	return parseTTL(vals.Get("ttl"))
}

// maxTTL is the longest expiry, ten years, in seconds.
const maxTTL = 315360000

func parseTTL(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxTTL || s[0] == '+' {
		return 0, errInvalid("ttl must be a whole number of seconds from 1 to %d", maxTTL)
	}
	return n, nil
}

// writeFailure is the answer to a failed write: a failed guard is 412 with
// the key's current ETag when it exists, and the revision the guard was
// evaluated at; in a batch the message names the op and the body its
// index. Anything else goes to toAPIError.
func writeFailure(res store.Result, err error, batch bool) error {
	var ge *store.GuardError
	if !errors.As(err, &ge) {
		if errors.Is(err, store.ErrInvalid) {
			return errInvalid("%s", strings.TrimPrefix(err.Error(), "store: invalid request: "))
		}
		return err
	}
	e := &apiError{status: http.StatusPreconditionFailed, code: "precondition_failed", header: map[string]string{}}
	if res.Revision != 0 {
		e.header[revisionHeader] = strconv.FormatUint(res.Revision, 10)
	}
	what := "the key is absent"
	if ge.Current != nil {
		e.header["ETag"] = etag(ge.Current.ModRevision)
		what = "the key is at revision " + strconv.FormatUint(ge.Current.ModRevision, 10)
	}
	if batch {
		i := ge.Index
		e.index = &i
		e.message = fmt.Sprintf("ops[%d]: precondition failed: %s", i, what)
	} else {
		e.message = "precondition failed: " + what
	}
	return e
}

// parseGetQuery reads a GET's (or HEAD's) query: consistency=, or none.
// It reports whether the read is serializable.
func parseGetQuery(raw string) (bool, error) {
	if raw == "" {
		return false, nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return false, errInvalid("query string is not valid: %v", err)
	}
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(part, "=")
		if name, err = url.QueryUnescape(name); err != nil || part == "" {
			continue
		}
		if name != "consistency" {
			return false, errInvalid("unknown query parameter %q (GET takes consistency)", truncate(name, 64))
		}
	}
	v, ok := vals["consistency"]
	if !ok {
		return false, nil
	}
	if len(v) > 1 {
		return false, errInvalid("query parameter \"consistency\" is given %d times", len(v))
	}
	return parseConsistency(v[0])
}

// parseConsistency reads the value of ?consistency= (API.md §9) and
// reports whether it asks for a serializable read.
func parseConsistency(v string) (bool, error) {
	switch v {
	case "linearizable":
		return false, nil
	case "serializable":
		return true, nil
	}
	return false, errInvalid("consistency must be linearizable or serializable, not %q", truncate(v, 64))
}

// barrier makes a linearizable read see every write committed before it,
// through the engine's ReadBarrier when it has one (a replicated engine);
// a serializable read, and every read of an engine without one (lsm,
// memory: linearizable already), goes straight to the local state.
func (s *kvStore) barrier(ctx context.Context, serializable bool) error {
	if serializable {
		return nil
	}
	if b, ok := s.eng.(ReadBarrier); ok {
		return b.ReadBarrier(ctx)
	}
	return nil
}
