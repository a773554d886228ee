package client

import (
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
)

func TestRetryPolicy(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Seed: 7}.withDefaults()
	rng := xorshift64(p.Seed)
	for n := range 10 {
		d := p.backoff(n, &rng)
		ceil := min(p.BaseDelay<<n, p.MaxDelay)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d waits %v, want within [%v, %v]", n, d, ceil/2, ceil)
		}
	}
	for _, tc := range []struct {
		status int
		err    error
		want   bool
	}{
		{0, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{0, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{0, &url.Error{Err: timeoutError{}}, true},
		{0, io.ErrUnexpectedEOF, true},
		{0, errors.New("x509: certificate signed by unknown authority"), false},
		{429, nil, true}, {502, nil, true}, {503, nil, true}, {504, nil, true},
		{400, nil, false}, {401, nil, false}, {403, nil, false}, {404, nil, false}, {500, nil, false}, {200, nil, false},
	} {
		if got := Transient(tc.status, tc.err); got != tc.want {
			t.Errorf("Transient(%d, %v) = %v, want %v", tc.status, tc.err, got, tc.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
