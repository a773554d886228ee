package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// framesOf feeds stream to a framer in pieces of size step and returns its
// frames.
func framesOf(stream []byte, step int) []frame {
	f := newFramer()
	for len(stream) > 0 {
		n := min(step, len(stream))
		f.feed(stream[:n])
		stream = stream[n:]
	}
	return f.frames
}

// checkAgainstNetHTTP is the framer's property: every request that
// net/http reads from stream, in order, has the framer's frame, which
// matches it, up to the first frame the framer refuses (the server then
// closes the connection). net/http answers OPTIONS * itself.
func checkAgainstNetHTTP(t *testing.T, stream []byte, step int) {
	frames := framesOf(stream, step)
	br := bufio.NewReader(bytes.NewReader(stream))
	for i := 0; ; {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.ProtoMajor != 1 {
			// http.Server answers 505 to any other version and closes
			// the connection: nothing after it is served.
			return
		}
		_, err = io.Copy(io.Discard, req.Body)
		if req.Method == "OPTIONS" && req.RequestURI == "*" {
			if err != nil {
				return
			}
			continue
		}
		if i >= len(frames) {
			t.Fatalf("step %d: net/http read request %d (%s %s), the framer has %d frames", step, i, req.Method, req.RequestURI, len(frames))
		}
		fr := frames[i]
		if !fr.matches(req) {
			t.Fatalf("step %d: request %d is %s %s %s; the framer's frame is %q (%d bytes)", step, i, req.Method, req.RequestURI, req.Proto, fr.line, fr.lineLen)
		}
		if fr.bad != "" || err != nil {
			return
		}
		i++
	}
}

func TestFramerAgreesWithNetHTTP(t *testing.T) {
	long := "/v1/collections/c/keys/" + strings.Repeat("k", 400)
	streams := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /xPUT /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\nGET /after HTTP/1.1\r\n\r\n",
		"POST /a HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /folded HTTP/1.1\r\n\r\n",
		"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\nGET /http10 HTTP/1.1\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nGET /after-options HTTP/1.1\r\n\r\n",
		"GET " + long + " HTTP/1.1\nHost: x\n\nGET " + long + " HTTP/1.0\r\n\r\n",
		"POST /smuggle HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		"POST /dup HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nxGET /next HTTP/1.1\r\n\r\n",
	}
	for _, s := range streams {
		for _, step := range []int{1, 2, 7, 4096} {
			checkAgainstNetHTTP(t, []byte(s), step)
		}
	}
	// And the verdicts.
	for s, want := range map[string]string{
		streams[0]: "",
		streams[7]: "both Content-Length and Transfer-Encoding",
		streams[8]: "repeats Content-Length",
	} {
		fr := framesOf([]byte(s), 3)
		if len(fr) == 0 || want == "" && fr[0].bad != "" || !strings.Contains(fr[0].bad, want) {
			t.Errorf("%q: frames %+v, want the first to say %q", s, fr, want)
		}
		if want != "" && len(fr) != 1 {
			t.Errorf("%q: the framer went on past a refused request: %d frames", s, len(fr))
		}
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(3))
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nxyGET /c HTTP/1.0\r\n\r\n"), uint8(5))
	f.Add([]byte("POST /s HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		checkAgainstNetHTTP(t, stream, int(step)+1)
	})
}
