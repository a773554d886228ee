package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The errors a call's error matches with errors.Is.
var (
	// ErrNotFound matches the *Error of a key that does not exist (404
	// not_found).
	ErrNotFound = errors.New("client: not found")
	// ErrPreconditionFailed matches the *Error of a write whose guard did
	// not hold (412 precondition_failed): nothing of it was applied.
	ErrPreconditionFailed = errors.New("client: precondition failed")
	// ErrUnknownOutcome matches the error of a write that may or may not
	// have been applied: an attempt may have reached the server and no
	// answer said what became of it (a connection cut after sending, a
	// timeout, a proxy's 502 or 504), and the client did not, or could
	// not, find out. An unguarded write is then never sent again; a
	// guarded one is (it applies at most once), and a 412 to the repeat
	// matches both this and ErrPreconditionFailed, since the earlier
	// attempt may be what changed the key. Read the key to know.
	ErrUnknownOutcome = errors.New("client: the write may or may not have been applied")
	// ErrUnavailable matches the *Error of a 503 unavailable: the server
	// is shutting down, or (the cluster edition) has no quorum, after
	// the client's retries. Unless the error also matches
	// ErrUnknownOutcome, nothing was applied.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrNotCluster matches the *Error of a cluster call ([Client.Cluster],
	// [Client.AddMember], [Client.RemoveMember]) answered by a
	// single-node amaters-server, which has no such endpoint.
	ErrNotCluster = errors.New("client: not a cluster member (a single-node amaters-server)")
)

// Error is an answer with an error status: the server's JSON error
// (API.md §3), or, from something that is not an amaters-server, the start
// of what it sent.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code and Message are the JSON error's ("not_found", "key not
	// found"); Code is "" when the body was not one.
	Code    string
	Message string
	// Body is the answer's body as received.
	Body []byte
	// CurrentRevision is, for a 412, the key's mod revision from the
	// answer's ETag (0: the key is absent).
	CurrentRevision uint64
	// Index is, for a batch's 412, the index of the op whose guard failed.
	Index int
	// unknown: an earlier attempt may have been applied (see
	// ErrUnknownOutcome).
	unknown bool
	// OldestRevision is, for a watch refused with 410 compacted, the
	// oldest revision the server's history still holds.
	OldestRevision uint64
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	body := strings.TrimSpace(string(e.Body))
	if len(body) > 200 {
		body = body[:200] + "..."
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), body)
}

// Is makes a 404 not_found answer match [ErrNotFound], a 412 match
// [ErrPreconditionFailed], a 503 match [ErrUnavailable], a 404 for an
// endpoint a single-node server lacks match [ErrNotCluster], and an
// answer after an attempt that may have been applied (or a 503 saying
// its outcome is unknown) match [ErrUnknownOutcome], and a 410
// compacted answer match [ErrCompacted].
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound && e.Code == "not_found" && !e.noEndpoint()
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrUnknownOutcome:
		return e.unknown
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	case ErrNotCluster:
		return e.noEndpoint()
	case ErrCompacted:
		return e.Status == http.StatusGone && e.Code == "compacted"
	}
	return false
}

// noEndpoint: the server has no such endpoint (its 404 for a path it
// does not serve).
func (e *Error) noEndpoint() bool {
	return e.Status == http.StatusNotFound && e.Code == "not_found" && e.Message == "no such endpoint"
}

// errorFrom is the *Error of an answer.
func errorFrom(r *Response) *Error {
	e := &Error{Status: r.Status, Body: r.Body}
	var body struct {
		Error struct {
			Code, Message string
			Index         int
		}
	}
	if json.Unmarshal(r.Body, &body) == nil {
		e.Code, e.Message, e.Index = body.Error.Code, body.Error.Message, body.Error.Index
	}
	if e.Status == http.StatusPreconditionFailed {
		e.CurrentRevision, _ = parseETag(r.Header.Get("ETag"))
	}
	e.unknown = outcomeUnknown(r)
	return e
}

// Status is the body of GET /v1/status (API.md §3).
type Status struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	State          string `json:"state"` // "serving" or "draining"
	Engine         string `json:"engine"`
	UptimeSeconds  int64  `json:"uptime_seconds"`
	Connections    int64  `json:"connections"`
	MaxConnections int64  `json:"max_connections"`
	RateLimit      struct {
		Enabled  bool   `json:"enabled"`
		RPS      int64  `json:"rps"`
		Burst    int64  `json:"burst"`
		Clients  int    `json:"clients"`
		Rejected uint64 `json:"rejected"`
	} `json:"rate_limit"`
}

// Status returns the server's status. Any authenticated identity may ask.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.getJSON(ctx, "/v1/status", &st, "a status")
	return st, err
}

// getJSON GETs path and decodes its 200 answer into v (what names v in
// the error of an answer that is not one); another status is its *Error.
func (c *Client) getJSON(ctx context.Context, path string, v any, what string) error {
	r, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return errorFrom(r)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("the answer is not %s: %w", what, err)
	}
	return nil
}

// Entry is a key's value as GET answers it (API.md §7).
type Entry struct {
	Value []byte
	// ModRevision is the revision of the write that last set the key
	// (its ETag): the guard of a later conditional write.
	ModRevision uint64
	// ExpiresAt is when the key expires; zero when it does not.
	ExpiresAt time.Time
	// Revision is the database revision the read saw.
	Revision uint64
}

// Get returns the value of key in collection, or an error matching
// [ErrNotFound] when it has none.
func (c *Client) Get(ctx context.Context, collection string, key []byte, opts ...ReadOption) ([]byte, error) {
	e, err := c.GetEntry(ctx, collection, key, opts...)
	return e.Value, err
}

// GetEntry returns the value of key in collection with its revisions and
// expiry, or an error matching [ErrNotFound] when it has none.
func (c *Client) GetEntry(ctx context.Context, collection string, key []byte, opts ...ReadOption) (Entry, error) {
	path, err := keyPath(collection, key)
	if err != nil {
		return Entry{}, err
	}
	v := url.Values{}
	readOpts(opts).set(v)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	r, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Entry{}, err
	}
	if r.Status != http.StatusOK {
		return Entry{}, errorFrom(r)
	}
	e := Entry{Value: r.Body}
	e.ModRevision, _ = parseETag(r.Header.Get("ETag"))
	e.Revision, _ = strconv.ParseUint(r.Header.Get(revisionHeader), 10, 64)
	if x := r.Header.Get("Amaters-Expires-At"); x != "" {
		e.ExpiresAt, _ = time.Parse(time.RFC3339Nano, x)
	}
	return e, nil
}

// WriteOption is a guard or an expiry of [Client.Put] or [Client.Delete].
type WriteOption func(*writeOptions)

type writeOptions struct {
	ifMatch  uint64
	ifExists bool
	ifAbsent bool
	ttl      time.Duration
}

// IfMatch applies the write only if the key exists with mod revision rev
// (If-Match: "rev"); rev 0 asserts nothing.
func IfMatch(rev uint64) WriteOption { return func(o *writeOptions) { o.ifMatch = rev } }

// IfExists applies the write only if the key exists (If-Match: *).
func IfExists() WriteOption { return func(o *writeOptions) { o.ifExists = true } }

// IfAbsent applies a Put only if the key does not exist (If-None-Match:
// *): a create.
func IfAbsent() WriteOption { return func(o *writeOptions) { o.ifAbsent = true } }

// TTL makes a Put's value expire after d, in whole seconds (rounded up),
// from when the server accepts it.
func TTL(d time.Duration) WriteOption { return func(o *writeOptions) { o.ttl = d } }

func (o *writeOptions) header() (http.Header, bool) {
	h := http.Header{}
	switch {
	case o.ifMatch != 0:
		h.Set("If-Match", `"`+strconv.FormatUint(o.ifMatch, 10)+`"`)
	case o.ifExists:
		h.Set("If-Match", "*")
	case o.ifAbsent:
		h.Set("If-None-Match", "*")
	default:
		return h, false
	}
	return h, true
}

// ttlSeconds is a ttl in whole seconds, rounded up.
func ttlSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// Put stores value under key in collection and returns the key's new mod
// revision; it returns once the write is as durable as the server's
// storage.sync promises. A failed guard is an error matching
// [ErrPreconditionFailed]. See [ErrUnknownOutcome] for what is retried.
func (c *Client) Put(ctx context.Context, collection string, key, value []byte, opts ...WriteOption) (uint64, error) {
	path, err := keyPath(collection, key)
	if err != nil {
		return 0, err
	}
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	if o.ttl > 0 {
		path += "?ttl=" + strconv.FormatInt(ttlSeconds(o.ttl), 10)
	}
	if value == nil {
		value = []byte{} // an empty value is a value: send the body
	}
	h, guarded := o.header()
	r, err := c.send(ctx, request{method: http.MethodPut, path: path, body: value, contentType: "application/octet-stream", header: h, retry: writeRetry(guarded)})
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusNoContent {
		return 0, errorFrom(r)
	}
	rev, _ := parseETag(r.Header.Get("ETag"))
	return rev, nil
}

// Delete removes key from collection and returns the database revision
// after it: the revision it committed at, or the current one when the key
// was absent (removing an absent key succeeds, and changes nothing).
// IfMatch and IfExists guard it.
func (c *Client) Delete(ctx context.Context, collection string, key []byte, opts ...WriteOption) (uint64, error) {
	path, err := keyPath(collection, key)
	if err != nil {
		return 0, err
	}
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	if o.ifAbsent || o.ttl != 0 {
		return 0, errors.New("client: Delete takes IfMatch or IfExists only")
	}
	h, guarded := o.header()
	r, err := c.send(ctx, request{method: http.MethodDelete, path: path, header: h, retry: writeRetry(guarded)})
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusNoContent {
		return 0, errorFrom(r)
	}
	rev, _ := strconv.ParseUint(r.Header.Get(revisionHeader), 10, 64)
	return rev, nil
}

func writeRetry(guarded bool) retryMode {
	if guarded {
		return retryGuarded
	}
	return retryUnsent
}

const revisionHeader = "Amaters-Revision"

// parseETag reads `"N"`.
func parseETag(t string) (uint64, bool) {
	if len(t) < 3 || t[0] != '"' || t[len(t)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseUint(t[1:len(t)-1], 10, 64)
	return n, err == nil
}

// keyPath is the path of a key: the collection and every byte of the key
// percent-encoded but the unreserved ones, so that "/", "%", "?" and a key
// of dots ("..", which a path would resolve away) reach the server as
// they are.
func keyPath(collection string, key []byte) (string, error) {
	if len(key) == 0 {
		return "", errors.New("client: a key has at least one byte")
	}
	var b strings.Builder
	b.WriteString("/v1/collections/" + url.PathEscape(collection) + "/keys/")
	for _, ch := range key {
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
		} else {
			const hex = "0123456789ABCDEF"
			b.Write([]byte{'%', hex[ch>>4], hex[ch&15]})
		}
	}
	return b.String(), nil
}
