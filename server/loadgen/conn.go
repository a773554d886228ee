package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpConn is one client's connection: a plain TCP connection speaking
// HTTP/1.1 itself, or net/http's transport (for TLS, HTTP/2 and
// UseNetHTTP).
//
// The load generator shares the machine with the server it measures, so
// its cost per request is part of every number it reports. net/http's
// client spends several goroutine hand-offs and about 25 µs of CPU per
// request on a 2-core machine, as much as a bare net/http server spends
// answering; a closed loop over one connection needs none of that: it
// writes the request in one write(2) and parses the answer from a
// bufio.Reader, like wrk. Its HTTP/1.1 is what a load generator needs
// (Content-Length and chunked bodies, close-delimited bodies,
// Connection: close, and one retry when the server closed a kept-alive
// connection), not a general client.
type httpConn struct {
	r    *runner
	conn net.Conn // nil until dialled, and after a failure
	br   *bufio.Reader
	wbuf []byte
	// reused says conn has served a request, so a failure before any byte
	// of the answer may be the server closing an idle connection.
	reused bool
	// stopCancel removes the hook that unblocks conn when ctx ends.
	stopCancel func() bool
	ctx        context.Context
}

// maxLine bounds a status, header or chunk-size line.
const maxLine = 64 << 10

func (r *runner) newConn(ctx context.Context) *httpConn {
	return &httpConn{r: r, ctx: ctx, br: bufio.NewReaderSize(nil, 16<<10)}
}

// close closes the connection, if any.
func (c *httpConn) close() {
	if c.conn != nil {
		c.stopCancel()
		c.conn.Close()
		c.conn = nil
	}
}

// send sends one request and reads the whole answer, so the connection can
// be reused. It returns the status, and for a non-2xx answer the start of
// its body. body, when not nil, is sent with Content-Length (also when
// empty, for a PUT of an empty value).
func (c *httpConn) send(ctx context.Context, method string, path, body []byte) (int, string, error) {
	if !c.r.raw {
		return c.sendNetHTTP(ctx, method, path, body)
	}
	status, msg, retry, err := c.sendRaw(method, path, body)
	if err != nil && retry && ctx.Err() == nil {
		// The server closed a kept-alive connection before this request
		// reached it (idle timeout): try once more on a new one.
		status, msg, _, err = c.sendRaw(method, path, body)
	}
	return status, msg, err
}

// sendRaw is one attempt of send over the connection's own HTTP/1.1.
// retry says the attempt failed on a reused connection before any byte of
// an answer came, so the request may be sent again.
func (c *httpConn) sendRaw(method string, path, body []byte) (status int, msg string, retry bool, err error) {
	if c.conn == nil {
		d := net.Dialer{Timeout: c.r.timeout}
		conn, err := d.DialContext(c.ctx, "tcp", c.r.hostPort)
		if err != nil {
			return 0, "", false, err
		}
		c.conn, c.reused = conn, false
		c.stopCancel = context.AfterFunc(c.ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		c.br.Reset(conn)
	}
	reused := c.reused
	b := append(c.wbuf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\n"...)
	if method == http.MethodPost {
		b = append(b, c.r.rawJSONHeader...)
	} else {
		b = append(b, c.r.rawHeader...)
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if err := c.conn.SetDeadline(time.Now().Add(c.r.timeout)); err != nil {
		c.close()
		return 0, "", false, err
	}
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return 0, "", reused, err
	}
	status, msg, keep, got, err := c.readAnswer(method)
	if err != nil {
		c.close()
		return 0, "", reused && !got, err
	}
	c.reused = true
	if !keep {
		c.close()
	}
	return status, msg, false, nil
}

// readAnswer reads one answer: its status, the start of its body when it
// is not 2xx, whether the connection stays open, and whether any byte came.
// A 2xx answer costs no allocation.
func (c *httpConn) readAnswer(method string) (status int, msg string, keep, got bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, "", false, len(line) > 0, err
	}
	// "HTTP/1.1 200 OK"
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	status, err = strconv.Atoi(string(code))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) != 3 || err != nil {
		return 0, "", false, true, fmt.Errorf("malformed status line %q", line)
	}
	keep = string(proto) != "HTTP/1.0"
	length, chunked := int64(-1), false
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, "", false, true, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, "", false, true, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case equalFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, "", false, true, fmt.Errorf("bad Content-Length %q", value)
			}
			length = n
		case equalFold(name, "Transfer-Encoding"):
			chunked = equalFold(value, "chunked")
		case equalFold(name, "Connection"):
			if equalFold(value, "close") {
				keep = false
			} else if equalFold(value, "keep-alive") {
				keep = true
			}
		}
	}
	if status >= 100 && status < 200 {
		// An interim answer (we never send Expect): the real one follows.
		return c.readAnswer(method)
	}
	var prefix *bytes.Buffer // the start of a non-2xx body
	if status/100 != 2 {
		prefix = new(bytes.Buffer)
	}
	switch {
	case method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
	case chunked:
		err = c.readChunked(prefix)
	case length >= 0:
		err = unexpectedEOF(c.skip(length, prefix))
	default:
		// No length: the body runs to the end of the connection.
		err = c.skip(math.MaxInt64, prefix)
		if err == io.EOF {
			err = nil
		}
		keep = false
	}
	if err != nil {
		return 0, "", false, true, err
	}
	if prefix != nil {
		msg = strings.TrimSpace(prefix.String())
	}
	return status, msg, keep, true, nil
}

// errorPrefix is how much of a non-2xx body is kept for the message.
const errorPrefix = 256

// skip reads n bytes of body, keeping the first errorPrefix of them in
// prefix when it is not nil. It returns io.EOF at the end of the
// connection.
func (c *httpConn) skip(n int64, prefix *bytes.Buffer) error {
	for n > 0 {
		if prefix != nil && prefix.Len() < errorPrefix {
			p, err := c.br.Peek(int(min(n, int64(errorPrefix-prefix.Len()))))
			prefix.Write(p)
			if _, derr := c.br.Discard(len(p)); derr != nil {
				err = derr
			}
			n -= int64(len(p))
			if err != nil {
				return err
			}
			continue
		}
		m, err := c.br.Discard(int(min(n, int64(c.br.Size()))))
		n -= int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailer, keeping its start in
// prefix when it is not nil.
func (c *httpConn) readChunked(prefix *bytes.Buffer) error {
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailer lines, then an empty one
				line, err := c.readLine()
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if err := c.skip(n, prefix); err != nil {
			return unexpectedEOF(err)
		}
		if line, err := c.readLine(); err != nil || len(line) != 0 {
			return firstError(err, fmt.Errorf("chunk of %d bytes not followed by CRLF", n))
		}
	}
}

// unexpectedEOF turns the end of the connection in the middle of a
// body into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// firstError returns a if it is not nil, else b.
func firstError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// readLine reads one line without its CRLF (or LF). The slice is valid
// until the next read.
func (c *httpConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return line, fmt.Errorf("line longer than %d bytes", c.br.Size())
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sendNetHTTP is send through net/http.
func (c *httpConn) sendNetHTTP(ctx context.Context, method string, path, body []byte) (int, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.r.base+string(path), rd)
	if err != nil {
		return 0, "", err
	}
	// The header maps are shared by every client and only read: net/http
	// copies a request before it adds a header of its own.
	req.Header = c.r.header
	if method == http.MethodPost {
		req.Header = c.r.jsonHeader
	}
	resp, err := c.r.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, err := io.ReadAll(io.LimitReader(resp.Body, 256))
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(msg)), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, "", err
}
