package promtext_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
)

func TestHandler(t *testing.T) {
	r := promtext.NewRegistry()
	r.NewCounter("requests_total", "Requests.").Add(3)
	want := "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total 3\n"
	h := promtext.Handler(r)

	tests := []struct {
		name           string
		method         string
		acceptEncoding string
		status         int
		encoding       string
		body           string
	}{
		{"get", http.MethodGet, "", 200, "", want},
		{"head", http.MethodHead, "", 200, "", ""},
		{"gzip", http.MethodGet, "gzip, deflate", 200, "gzip", want},
		{"gzip refused by q=0", http.MethodGet, "gzip;q=0, identity", 200, "", want},
		{"wildcard", http.MethodGet, "*", 200, "gzip", want},
		{"other encoding", http.MethodGet, "br", 200, "", want},
		{"post", http.MethodPost, "", 405, "", "method not allowed\n"},
		{"delete", http.MethodDelete, "", 405, "", "method not allowed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/metrics", nil)
			if tc.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tc.acceptEncoding)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status == 405 {
				if allow := res.Header.Get("Allow"); allow != "GET, HEAD" {
					t.Errorf("Allow = %q", allow)
				}
			} else if ct := res.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := res.Header.Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tc.encoding)
			}
			var body io.Reader = res.Body
			if tc.encoding == "gzip" {
				zr, err := gzip.NewReader(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.body {
				t.Errorf("body %q, want %q", b, tc.body)
			}
			if tc.method == http.MethodHead && tc.encoding == "" {
				if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
					t.Errorf("HEAD Content-Length = %q, want %d", cl, len(want))
				}
			}
		})
	}
}

func TestHandlerOverHTTP(t *testing.T) {
	r := promtext.NewRegistry()
	promtext.RegisterGo(r)
	srv := httptest.NewServer(promtext.Handler(r))
	t.Cleanup(srv.Close)
	// The default transport asks for gzip and decompresses transparently.
	for range 3 {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Uncompressed {
			t.Error("response was not gzip-compressed")
		}
		if err := promtexttest.Check(b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\ngo_goroutines ") {
			t.Errorf("no go_goroutines in\n%s", b)
		}
	}
}
