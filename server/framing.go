package server

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// Request framing (RFC 9112 §6): net/http serves a request that has both
// Content-Length and Transfer-Encoding from its chunked body and keeps the
// connection open, and merges repeated identical Content-Length fields, so
// its handlers never see either. Both are how request smuggling starts
// when a proxy in front frames the stream differently. The server refuses
// them with 400 and closes the connection.
//
// framer sees the raw bytes of a plain-text HTTP/1 connection as net/http
// reads them (limitConn.Read) and splits the stream into requests as
// net/http does: the request line and header fields, then a body of
// Content-Length bytes, or chunked (HTTP/1.1 and later), or none. For each
// request it queues a frame: the start of its request line and a verdict.
// withConnBusy takes the frame of each request it serves, in order, and
// refuses the request when the verdict is bad, or when the frame does not
// match the request (the framer and net/http would then disagree about the
// stream, which only a malformed stream can cause). Once the stream is
// something net/http refuses itself (it then closes the connection) or a
// request is refused, the framer stops.
//
// Under TLS, limitConn sees ciphertext, and net/http needs the *tls.Conn
// itself, so the framer does not run there; HTTP/2 has its own framing.

// frame is one request as the framer split it.
type frame struct {
	line    []byte // the request line's first framePrefix bytes
	lineLen int    // the request line's length
	bad     string // why the request is refused; "" = fine
}

const (
	framePrefix = 256
	// frameMaxHeader is where the framer stops: past maxHeaderBytes
	// net/http answers 431 and closes the connection.
	frameMaxHeader = maxHeaderBytes + 64<<10
)

type framerState int

const (
	fsHeader    framerState = iota // reading the request line and header fields
	fsBody                         // skipping remain bytes of a Content-Length body
	fsChunkSize                    // reading a chunk-size line
	fsChunkData                    // skipping remain bytes of chunk data
	fsChunkEnd                     // reading the CRLF after chunk data
	fsTrailer                      // reading trailer fields up to the empty line
	fsStopped                      // net/http refuses what follows, or a request was refused
)

// framer splits one connection's stream. feed is called by the connection's
// reader (one at a time); next by its handlers. Safe for that use.
type framer struct {
	state  framerState
	remain int64

	// The line being read: its first framePrefix bytes, its length, its
	// last bytes (for the request line's protocol).
	line    []byte
	lineLen int
	tail    []byte

	// The header being read.
	headerBytes int
	first       bool // the next line is the request line
	cur         frame
	http10      bool
	cls         []string // Content-Length values
	tes         int      // Transfer-Encoding fields
	te          string   // the last Transfer-Encoding value
	lastField   int      // 1 Content-Length, 2 Transfer-Encoding, 0 other: for folded lines

	mu     sync.Mutex
	frames []frame
}

func newFramer() *framer { return &framer{first: true} }

// feed takes the next bytes of the stream.
func (f *framer) feed(p []byte) {
	for len(p) > 0 && f.state != fsStopped {
		switch f.state {
		case fsBody, fsChunkData:
			n := int64(len(p))
			if n > f.remain {
				n = f.remain
			}
			p = p[n:]
			f.remain -= n
			if f.remain == 0 {
				if f.state == fsBody {
					f.state = fsHeader
				} else {
					f.state = fsChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(p, '\n')
			chunk := p
			if i >= 0 {
				chunk = p[:i]
			}
			if room := framePrefix - len(f.line); room > 0 {
				f.line = append(f.line, chunk[:min(room, len(chunk))]...)
			}
			f.tail = append(f.tail, chunk[max(0, len(chunk)-len(" HTTP/1.0\r")):]...)
			if k := len(f.tail) - len(" HTTP/1.0\r"); k > 0 {
				f.tail = append(f.tail[:0], f.tail[k:]...)
			}
			f.lineLen += len(chunk)
			if f.state == fsHeader {
				if f.headerBytes += len(chunk) + 1; f.headerBytes > frameMaxHeader {
					f.state = fsStopped
					return
				}
			}
			if i < 0 {
				return
			}
			p = p[i+1:]
			// The line without its CR, as net/http reads it.
			n, tail := f.lineLen, f.tail
			if len(tail) > 0 && tail[len(tail)-1] == '\r' {
				n, tail = n-1, tail[:len(tail)-1]
			}
			line := f.line[:min(len(f.line), n)]
			f.endLine(line, n, tail)
			f.line, f.lineLen, f.tail = f.line[:0], 0, f.tail[:0]
		}
	}
}

// endLine handles a whole line (without its line end); line is its first
// framePrefix bytes, n its length, tail its last bytes.
func (f *framer) endLine(line []byte, n int, tail []byte) {
	switch f.state {
	case fsHeader:
		if f.first {
			f.first = false
			f.cur = frame{line: bytes.Clone(line), lineLen: n}
			f.http10 = bytes.HasSuffix(tail, []byte(" HTTP/1.0"))
			return
		}
		if n == 0 {
			f.endHeader()
			return
		}
		if line[0] == ' ' || line[0] == '\t' { // obs-fold: continues the last field
			v := string(bytes.TrimSpace(line))
			switch f.lastField {
			case 1:
				f.cls[len(f.cls)-1] = joinFolded(f.cls[len(f.cls)-1], v)
			case 2:
				f.te = joinFolded(f.te, v)
			}
			return
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			f.state = fsStopped // net/http: malformed header line, 400 and close
			return
		}
		f.lastField = 0
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			f.cls = append(f.cls, string(bytes.TrimSpace(value)))
			f.lastField = 1
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			f.tes++
			f.te = string(bytes.TrimSpace(value))
			f.lastField = 2
		}
	case fsChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		size = bytes.TrimRight(size, " \t")
		v, err := strconv.ParseUint(string(size), 16, 63)
		if err != nil || len(size) == framePrefix { // no size is that long

			f.state = fsStopped // net/http: bad chunk, the connection ends
			return
		}
		if v == 0 {
			f.state = fsTrailer
			return
		}
		f.state, f.remain = fsChunkData, int64(v)
	case fsChunkEnd:
		if n != 0 {
			f.state = fsStopped
			return
		}
		f.state = fsChunkSize
	case fsTrailer:
		if n == 0 {
			f.state, f.first, f.headerBytes = fsHeader, true, 0
		}
	}
}

func joinFolded(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// endHeader decides the framing of the request whose header just ended,
// and queues its frame.
func (f *framer) endHeader() {
	cur := f.cur
	cls, tes, te := f.cls, f.tes, f.te
	f.cls, f.tes, f.te, f.lastField, f.first, f.headerBytes = f.cls[:0], 0, "", 0, true, 0
	f.state = fsHeader
	switch {
	case tes > 0 && len(cls) > 0:
		cur.bad = "the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1); send one"
		f.state = fsStopped
	case len(cls) > 1:
		cur.bad = "the request repeats Content-Length; send it once"
		f.state = fsStopped
	case tes > 0 && !f.http10:
		if tes > 1 || !equalFoldASCII(te, "chunked") {
			f.state = fsStopped // net/http: 501, and the connection ends
			return
		}
		f.state = fsChunkSize
	case len(cls) == 1:
		v, err := strconv.ParseInt(cls[0], 10, 64)
		if err != nil || v < 0 || cls[0][0] == '+' {
			f.state = fsStopped // net/http: 400 bad Content-Length
			return
		}
		if v > 0 {
			f.state, f.remain = fsBody, v
		}
	}
	if bytes.HasPrefix(cur.line, []byte("OPTIONS * ")) {
		return // net/http answers OPTIONS * itself; no handler takes it
	}
	f.mu.Lock()
	f.frames = append(f.frames, cur)
	f.mu.Unlock()
}

func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}

// next takes the frame of the next request served.
func (f *framer) next() (frame, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frames) == 0 {
		return frame{}, false
	}
	fr := f.frames[0]
	f.frames = f.frames[1:]
	return fr, true
}

// check returns why r must be refused, or "" when its frame matches it and
// is fine.
func (f *framer) check(r *http.Request) string {
	fr, ok := f.next()
	if !ok || !fr.matches(r) {
		return "the request's framing could not be verified; send one request per Content-Length or chunked body"
	}
	return fr.bad
}

// matches reports whether the frame's request line is r's: METHOD SP
// REQUEST-URI SP PROTO.
func (fr frame) matches(r *http.Request) bool {
	if fr.lineLen != len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) {
		return false
	}
	rest := fr.line
	for _, part := range []string{r.Method, " ", r.RequestURI, " ", r.Proto} {
		k := min(len(part), len(rest))
		if string(rest[:k]) != part[:k] {
			return false
		}
		rest = rest[k:]
	}
	return true
}
