package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
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

// ClientOptions configure a Client.
type ClientOptions struct {
	Token        string // bearer JWT
	APIKey       string
	APIKeyHeader string // default X-API-Key
	CACert       string // PEM file; setting any TLS option selects https
	Cert, Key    string // client certificate for mTLS
	Insecure     bool   // skip server certificate verification
	Timeout      time.Duration
	Retry        RetryPolicy
}

// Client talks to a running server for the status and stop commands.
type Client struct {
	base string
	opts ClientOptions
	hc   *http.Client
}

// NewClient returns a client for addr, "HOST:PORT" or an http(s) URL.
func NewClient(addr string, opts ClientOptions) (*Client, error) {
	if opts.APIKeyHeader == "" {
		opts.APIKeyHeader = "X-API-Key"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	opts.Retry = opts.Retry.withDefaults()
	useTLS := opts.CACert != "" || opts.Cert != "" || opts.Insecure
	base := addr
	switch {
	case strings.HasPrefix(addr, "https://"):
		useTLS = true
	case strings.HasPrefix(addr, "http://"):
		if useTLS {
			return nil, errors.New("TLS options were given but the address is http://")
		}
	default:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("address %q is not HOST:PORT", addr)
		}
		base = "http://" + addr
		if useTLS {
			base = "https://" + addr
		}
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.Insecure}
		if opts.CACert != "" {
			pem, err := os.ReadFile(opts.CACert)
			if err != nil {
				return nil, fmt.Errorf("read --cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--cacert %s holds no PEM certificate", opts.CACert)
			}
			tc.RootCAs = pool
		}
		if (opts.Cert == "") != (opts.Key == "") {
			return nil, errors.New("--cert and --key must be given together")
		}
		if opts.Cert != "" {
			pair, err := tls.LoadX509KeyPair(opts.Cert, opts.Key)
			if err != nil {
				return nil, fmt.Errorf("load client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		tr.TLSClientConfig = tc
	}
	return &Client{base: strings.TrimSuffix(base, "/"), opts: opts, hc: &http.Client{Transport: tr, Timeout: opts.Timeout}}, nil
}

// Response is a server's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request, retrying transient failures per the policy. It
// returns the last answer (which may be an error status) or the last
// transport error.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	rng := xorshift64(c.opts.Retry.Seed)
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, method, path, body)
		status := 0
		if resp != nil {
			status = resp.Status
		}
		if !Transient(status, err) || attempt+1 >= c.opts.Retry.MaxAttempts {
			return resp, err
		}
		lastErr = err
		wait := c.opts.Retry.backoff(attempt, &rng)
		if resp != nil {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				if d := time.Duration(ra) * time.Second; d > wait && d <= c.opts.Retry.MaxDelay {
					wait = d
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

// Once sends one request with no retry.
func (c *Client) once(ctx context.Context, method, path string, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	if c.opts.APIKey != "" {
		req.Header.Set(c.opts.APIKeyHeader, c.opts.APIKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// WaitDown polls addr until nothing accepts connections there, or ctx ends.
func WaitDown(ctx context.Context, hostPort string) error {
	d := net.Dialer{Timeout: time.Second}
	for {
		conn, err := d.DialContext(ctx, "tcp", hostPort)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		} else {
			conn.Close()
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// HostPort returns the HOST:PORT part of the client's address.
func (c *Client) HostPort() string {
	u := strings.TrimPrefix(strings.TrimPrefix(c.base, "https://"), "http://")
	host, _, _ := strings.Cut(u, "/")
	if _, _, err := net.SplitHostPort(host); err != nil {
		// No port: the scheme's. JoinHostPort adds the brackets of an
		// IPv6 address again, so take off the URL's.
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if strings.HasPrefix(c.base, "https://") {
			return net.JoinHostPort(host, "443")
		}
		return net.JoinHostPort(host, "80")
	}
	return host
}
