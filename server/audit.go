package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"amaters-server/logrot"
)

// auditLog writes one JSON line per security event (API.md §4):
// authentication failures, authorization denials, admin actions and
// configuration reloads. A line holds who, what, on what, the outcome and a
// fixed reason token; never a credential, a secret or a stored value.
//
// An auditLog is safe for concurrent use. The zero value (and a nil
// pointer) discards events, which is what audit.enabled = false means.
type auditLog struct {
	now func() time.Time
	log *slog.Logger // where write failures are reported

	mu     sync.Mutex // guards w, failed and the write itself, so lines never interleave
	w      *logrot.Writer
	lock   io.Closer // the file's lock, released by Close
	failed bool      // a write failed; reported once until one succeeds again
}

// auditEvent is one line of the audit log. The member names are part of
// the log's format, read by tools: never rename them.
type auditEvent struct {
	Time       string `json:"time"`
	RequestID  string `json:"request_id,omitempty"`
	Identity   string `json:"identity"`
	AuthMethod string `json:"auth_method,omitempty"`
	Remote     string `json:"remote,omitempty"`
	Method     string `json:"method,omitempty"`
	Action     string `json:"action"`
	Resource   string `json:"resource"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
}

// openAuditLog opens (appending, 0600) the audit file, rotated like the
// server log.
func openAuditLog(path string, opts logrot.Options, now func() time.Time, log *slog.Logger) (*auditLog, error) {
	w, err := logrot.New(path, opts)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	// Two servers never write one audit log (lock.go).
	lock, err := lockLogFile(path, "audit.file")
	if err != nil {
		w.Close()
		return nil, err
	}
	return &auditLog{now: now, log: log, w: w, lock: lock}, nil
}

// record writes an event about request r (nil for events without one, such
// as a reload by signal).
func (a *auditLog) record(r *http.Request, p principal, action, resource, outcome, reason string) {
	if a == nil { // (a.w is read under a.mu below: Close may run at the same time)
		return
	}
	e := auditEvent{
		Time:     a.now().UTC().Format(time.RFC3339Nano),
		Identity: p.name(),
		Action:   action,
		Resource: resource,
		Outcome:  outcome,
		Reason:   reason,
	}
	if p.id.Method != "" {
		e.AuthMethod = string(p.id.Method)
	}
	if r != nil {
		e.RequestID = requestID(r.Context())
		e.Remote = r.RemoteAddr
		e.Method = r.Method
	}
	line, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("encode audit event: %v", err)) // plain strings only: a bug
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return
	}
	if _, err := a.w.Write(line); err != nil {
		if !a.failed {
			a.log.Error("audit log write failed; security events are being lost", slog.String("error", err.Error()))
		}
		a.failed = true
		return
	}
	a.failed = false
}

// Reopen reopens the audit file (after an external logrotate moved it).
func (a *auditLog) Reopen() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return nil
	}
	return a.w.Reopen()
}

// health is the audit log's /health check.
func (a *auditLog) health() string {
	if a == nil {
		return "disabled"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return "closed"
	}
	return writerHealth(a.w)
}

// Close closes the audit file; later events are discarded.
func (a *auditLog) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return nil
	}
	err := errors.Join(a.w.Close(), a.lock.Close())
	a.w = nil
	return err
}
