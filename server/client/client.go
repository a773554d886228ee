package client

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

// Options configure a Client. The zero value talks plain http with no
// credential, a 10 s timeout per request and the default RetryPolicy.
type Options struct {
	Token        string // bearer JWT
	APIKey       string
	APIKeyHeader string // default X-API-Key
	CACert       string // PEM file; setting any TLS option selects https
	Cert, Key    string // client certificate for mTLS
	Insecure     bool   // skip server certificate verification
	// Timeout bounds each attempt of a request (default 10 s); for
	// [Client.Backup], how long the server may send nothing.
	Timeout time.Duration
	Retry   RetryPolicy
}

// Client talks to one amaters-server over its HTTP API. It is safe for
// concurrent use; it keeps connections alive between requests.
type Client struct {
	base string
	opts Options
	tr   *http.Transport
	hc   *http.Client
}

// New returns a client for addr, "HOST:PORT" or an http(s) URL. It reads
// the certificate files the options name; it does not connect.
func New(addr string, opts Options) (*Client, error) {
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
	return &Client{base: strings.TrimSuffix(base, "/"), opts: opts, tr: tr, hc: &http.Client{Transport: tr, Timeout: opts.Timeout}}, nil
}

// Response is a server's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request, with body (nil for none) as JSON, retrying
// transient failures per the policy (see [Transient]) as for a read. It
// returns the last answer, whatever its status, or the last transport
// error. Answers are read whole, up to 64 MiB.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	return c.do(ctx, method, path, body, "application/json")
}

// do is Do with the body's content type, retrying as a read.
func (c *Client) do(ctx context.Context, method, path string, body []byte, contentType string) (*Response, error) {
	return c.send(ctx, request{method: method, path: path, body: body, contentType: contentType, retry: retryAlways})
}

// retryMode says which failed attempts of a request may be sent again.
type retryMode int

const (
	// retryAlways: every transient failure (reads, and requests that
	// change nothing twice).
	retryAlways retryMode = iota
	// retryGuarded: a write whose guard makes a repeat harmless: it
	// applies at most once. Every transient failure is retried, but once
	// an attempt may have reached the server, a later 412 may be the
	// write's own earlier success: it is reported as ErrUnknownOutcome
	// too.
	retryGuarded
	// retryUnsent: an unguarded write is retried only when no attempt can
	// have been applied (the connection was refused, or the server
	// answered 429 or 503 before applying it); otherwise the error is
	// ErrUnknownOutcome.
	retryUnsent
)

// request is one call of send.
type request struct {
	method, path string
	body         []byte
	contentType  string
	header       http.Header // extra headers (guards)
	retry        retryMode
}

// send sends rq, retrying per its mode and the policy.
func (c *Client) send(ctx context.Context, rq request) (*Response, error) {
	rng := xorshift64(c.opts.Retry.Seed)
	var lastErr error
	mayHaveApplied := false
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, rq)
		status := 0
		if resp != nil {
			status = resp.Status
		}
		ambiguous := maybeApplied(status, err) || (err == nil && outcomeUnknown(resp))
		if rq.retry == retryGuarded && mayHaveApplied && status == http.StatusPreconditionFailed {
			e := errorFrom(resp)
			e.unknown = true
			return resp, e
		}
		mayHaveApplied = mayHaveApplied || ambiguous
		if !Transient(status, err) || attempt+1 >= c.opts.Retry.MaxAttempts || (rq.retry == retryUnsent && ambiguous) {
			if rq.retry != retryAlways && ambiguous {
				if err != nil {
					return resp, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
				}
				e := errorFrom(resp)
				e.unknown = true
				return resp, e
			}
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
			if mayHaveApplied && rq.retry != retryAlways {
				return nil, errors.Join(ErrUnknownOutcome, ctx.Err(), lastErr)
			}
			return nil, errors.Join(ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

// maybeApplied reports whether a failed attempt may have been applied by
// the server: the request may have been sent and no answer says it was
// not (a connection reset or timeout after sending, a proxy's 502 or 504).
// A refused connection was never sent; 429 and 503 are the server
// refusing before it applies anything, except a 503 marked
// Amaters-Outcome: unknown (see outcomeUnknown), which send checks.
func maybeApplied(status int, err error) bool {
	if err != nil {
		var oe *net.OpError
		if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &oe) && oe.Op == "dial") {
			return false
		}
		var dnsErr *net.DNSError
		return !errors.As(err, &dnsErr)
	}
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// outcomeHeader marks a 503 whose write may or may not have been applied
// (the cluster edition lost its leader after proposing it).
const outcomeHeader = "Amaters-Outcome"

// outcomeUnknown reports whether the answer says its write's outcome is
// unknown.
func outcomeUnknown(r *Response) bool {
	return r != nil && r.Status == http.StatusServiceUnavailable && r.Header.Get(outcomeHeader) == "unknown"
}

// once sends one request with no retry.
func (c *Client) once(ctx context.Context, rq request) (*Response, error) {
	var rd io.Reader
	if rq.body != nil {
		rd = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.base+rq.path, rd)
	if err != nil {
		return nil, err
	}
	c.setCredentials(req.Header)
	if rq.body != nil {
		req.Header.Set("Content-Type", rq.contentType)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("the answer is larger than %d bytes, more than this client reads whole", maxAnswer)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// maxAnswer bounds an answer read whole: a value of the server's default
// storage.max_value_bytes (16 MiB), or a range page, with room to spare.
const maxAnswer = 64 << 20

// HealthPortHeader is the header of the answer to POST /v1/admin/shutdown
// that names the server's health port: the health listener closes last,
// once the storage is closed, so it tells when the process is done.
const HealthPortHeader = "Amaters-Health-Port"

// setCredentials adds the token and the API key, when given, to h.
func (c *Client) setCredentials(h http.Header) {
	if c.opts.Token != "" {
		h.Set("Authorization", "Bearer "+c.opts.Token)
	}
	if c.opts.APIKey != "" {
		h.Set(c.opts.APIKeyHeader, c.opts.APIKey)
	}
}

// WaitDown polls hostPort until nothing accepts connections there (a
// refused connection), or ctx ends.
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

// URL returns the server's base URL, scheme://host[:port] with no
// trailing slash.
func (c *Client) URL() string { return c.base }

// Options returns the client's options, defaults filled in.
func (c *Client) Options() Options { return c.opts }

// Transport returns a copy of the client's transport, TLS settings
// included, for a caller that sizes its own connection pool (the load
// generator).
func (c *Client) Transport() *http.Transport { return c.tr.Clone() }

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
