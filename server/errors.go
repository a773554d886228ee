package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"syscall"

	"amaters-server/lsm"
)

// apiError is an error with its HTTP answer. Handlers return one for every
// client mistake; anything else becomes a 500 (see writeError).
type apiError struct {
	status  int
	code    string
	message string
	header  map[string]string
	// index is the failed op of a batch (412), or nil.
	index *int
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errInvalid(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_argument", message: fmt.Sprintf(format, args...)}
}

func errTooLarge(format string, args ...any) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", message: fmt.Sprintf(format, args...)}
}

func errForbidden(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "permission_denied", message: msg}
}

func errUnavailable(msg string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", message: msg}
}

func errMethod(allow string) *apiError {
	return &apiError{
		status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		message: "method not allowed; allowed: " + allow,
		header:  map[string]string{"Allow": allow},
	}
}

var errRouteNotFound = &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint"}

// toAPIError maps any error to its HTTP answer. internal reports whether
// the error is the server's fault (logged, details withheld).
func toAPIError(err error) (e *apiError, internal bool) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.Is(err, ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", message: "key not found"}, false
	case errors.As(err, &mbe):
		return errTooLarge("request body is larger than %d bytes", mbe.Limit), false
	case errors.Is(err, ErrUnknownOutcome):
		// Before context.Canceled: a replicated write whose client went
		// away after the proposal may still be applied.
		e := errUnavailable("the outcome of this write is unknown: it was proposed, then the cluster lost its leader or the request timed out before it was applied, so it may or may not be applied; read the key to learn, or retry with a guard (If-Match), which makes a repeat safe" + engineDetail(err, ErrUnknownOutcome))
		e.header = map[string]string{outcomeHeader: "unknown"}
		return e, false
	case errors.Is(err, ErrUnavailable):
		e := errUnavailable("no quorum: the cluster could not serve this request within its request timeout (no leader known or reachable); a write was not applied; retry later" + engineDetail(err, ErrUnavailable))
		e.header = map[string]string{"Retry-After": "1"}
		return e, false
	case errors.Is(err, context.Canceled):
		// The client went away while its write waited for the group
		// commit; the store withdrew it (not applied). Nobody reads this.
		return errUnavailable("the request was cancelled before it was applied"), false
	case errors.Is(err, ErrPreconditionFailed):
		return &apiError{status: http.StatusPreconditionFailed, code: "precondition_failed", message: "precondition failed"}, false
	case errors.Is(err, ErrClosed), errors.Is(err, lsm.ErrClosed):
		return errUnavailable("storage is closed; the server is shutting down"), false
	case errors.Is(err, ErrWritesStopped):
		return errUnavailable("writes are stopped after a storage failure (see the server log); reads still work; restart the server once the cause is fixed"), true
	case isNoSpace(err):
		// Not logged per request: the storage engine logs the condition
		// once when it starts and once when it ends.
		return &apiError{status: http.StatusInsufficientStorage, code: "insufficient_storage", message: "the server's disk is full; the write was not applied; writes succeed again once space is freed"}, false
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error; see the server log for request id"}, true
}

// outcomeHeader marks a 503 whose write may or may not be applied
// (ErrUnknownOutcome), so that a client tells it from a 503 that applied
// nothing (server/client's retries depend on it).
const outcomeHeader = "Amaters-Outcome"

// engineDetail is the engine's own words about a failure wrapping
// sentinel, "" when it added none: " (detail)".
func engineDetail(err, sentinel error) string {
	msg := err.Error()
	if msg == sentinel.Error() {
		return ""
	}
	return " (" + truncate(msg, 200) + ")"
}

// writeError answers a request with err as a JSON error. It is the only
// place a failed request is logged: a 5xx once with its cause, nothing for a
// client's mistake (the access log covers those).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := toAPIError(err)
	if internal {
		s.log.ErrorContext(r.Context(), "request failed",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", r.Pattern),
			slog.Int("status", e.status),
			slog.String("error", err.Error()))
	}
	writeErrorBody(w, e)
}

func writeErrorBody(w http.ResponseWriter, e *apiError) {
	noteErrorCode(w, e.code)
	h := w.Header()
	for k, v := range e.header {
		h.Set(k, v)
	}
	if e.status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="amaters"`)
	}
	type errorBody struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Index   *int   `json:"index,omitempty"`
	}
	writeJSON(w, e.status, struct {
		Error errorBody `json:"error"`
	}{errorBody{e.code, e.message, e.index}})
}

// noteErrorCode records an answer's error code in the request's
// statusWriter, under whatever wraps it (compression), for the access log.
func noteErrorCode(w http.ResponseWriter, code string) {
	for {
		switch x := w.(type) {
		case *statusWriter:
			x.errCode = code
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// Header values shared by every response; never modified.
var (
	applicationJSON = []string{"application/json"}
	octetStream     = []string{"application/octet-stream"}
	nosniff         = []string{"nosniff"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONBody(w, status, encodeJSON(v))
}

// encodeJSON is the body of a JSON answer, newline-terminated.
func encodeJSON(v any) []byte {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own plain types reach here; failing to encode them is a bug.
		panic(fmt.Sprintf("encode response: %v", err))
	}
	return append(body, '\n')
}

// writeJSONBody answers with an encoded JSON body.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = applicationJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	w.Write(body)
}

// isNoSpace reports whether err is a file system out of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
