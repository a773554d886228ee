package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// RetryPolicy says how a Client retries transient failures: attempt n
// (from 0) waits a random time in [d/2, d] before the next, where
// d = min(MaxDelay, BaseDelay·2ⁿ); a server's Retry-After, when longer and
// within MaxDelay, wins. The zero value means 5 attempts, 100 ms, 2 s.
type RetryPolicy struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// Seed seeds the jitter; 0 picks one from the clock.
	Seed uint64
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 100 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 2 * time.Second
	}
	if p.Seed == 0 {
		p.Seed = uint64(time.Now().UnixNano()) | 1
	}
	return p
}

// xorshift64 is Marsaglia's xorshift generator: tiny, and plenty for
// spreading retries apart. Its state must never be zero.
type xorshift64 uint64

func (x *xorshift64) next() uint64 {
	v := uint64(*x)
	v ^= v << 13
	v ^= v >> 7
	v ^= v << 17
	*x = xorshift64(v)
	return v
}

// backoff returns the wait after attempt n (0-based).
func (p RetryPolicy) backoff(n int, rng *xorshift64) time.Duration {
	d := p.BaseDelay
	for i := 0; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rng.next()%uint64(half+1))
}

// Transient reports whether a failed attempt is worth retrying: connection
// refused or reset, timeouts, and the statuses 429, 502, 503 and 504. Every
// other 4xx and 5xx is permanent.
func Transient(status int, err error) bool {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled):
			return false
		case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
			errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
			errors.Is(err, context.DeadlineExceeded):
			return true
		case errors.As(err, &ne) && ne.Timeout():
			return true
		}
		return false
	}
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
