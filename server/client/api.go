package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrNotFound matches (with errors.Is) the *Error of a key that does not
// exist.
var ErrNotFound = errors.New("client: not found")

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

// Is makes a 404 not_found answer match [ErrNotFound], and a 410
// compacted one [ErrCompacted].
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound && e.Code == "not_found"
	case ErrCompacted:
		return e.Status == http.StatusGone && e.Code == "compacted"
	}
	return false
}

// errorFrom is the *Error of an answer.
func errorFrom(r *Response) *Error {
	e := &Error{Status: r.Status, Body: r.Body}
	var body struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(r.Body, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
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
	r, err := c.Do(ctx, http.MethodGet, "/v1/status", nil)
	if err != nil {
		return st, err
	}
	if r.Status != http.StatusOK {
		return st, errorFrom(r)
	}
	if err := json.Unmarshal(r.Body, &st); err != nil {
		return st, fmt.Errorf("the answer is not a status: %w", err)
	}
	return st, nil
}

// Get returns the value of key in collection, or an error matching
// [ErrNotFound] when it has none.
func (c *Client) Get(ctx context.Context, collection string, key []byte) ([]byte, error) {
	path, err := keyPath(collection, key)
	if err != nil {
		return nil, err
	}
	r, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, errorFrom(r)
	}
	return r.Body, nil
}

// Put stores value under key in collection; it returns once the write is
// as durable as the server's storage.sync promises.
func (c *Client) Put(ctx context.Context, collection string, key, value []byte) error {
	path, err := keyPath(collection, key)
	if err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // an empty value is a value: send the body
	}
	r, err := c.do(ctx, http.MethodPut, path, value, "application/octet-stream")
	if err != nil {
		return err
	}
	if r.Status != http.StatusNoContent {
		return errorFrom(r)
	}
	return nil
}

// Delete removes key from collection; removing an absent key succeeds.
func (c *Client) Delete(ctx context.Context, collection string, key []byte) error {
	path, err := keyPath(collection, key)
	if err != nil {
		return err
	}
	r, err := c.Do(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusNoContent {
		return errorFrom(r)
	}
	return nil
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
