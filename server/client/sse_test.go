package client

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t testing.TB, in string, max int) ([]sseEvent, string, error) {
	p := newSSEReader(strings.NewReader(in), max)
	var out []sseEvent
	for {
		ev, err := p.next()
		if err != nil {
			return out, p.lastID, err
		}
		out = append(out, ev)
	}
}

// TestSSEReader checks the WHATWG rules the watch relies on.
func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []sseEvent
		lastID   string
	}{
		{"lf", "id: 1\nevent: put\ndata: {}\n\n", []sseEvent{{Type: "put", Data: "{}", ID: "1", HasID: true}}, "1"},
		{"crlf", "id: 1\r\nevent: put\r\ndata: {}\r\n\r\n", []sseEvent{{Type: "put", Data: "{}", ID: "1", HasID: true}}, "1"},
		{"cr", "id: 1\revent: put\rdata: {}\r\r", []sseEvent{{Type: "put", Data: "{}", ID: "1", HasID: true}}, "1"},
		{"bom and comments", "\xEF\xBB\xBF: watching\n\n: keepalive\n\ndata:x\n\n", []sseEvent{{Type: "message", Data: "x"}}, ""},
		{"multi-line data", "data: a\ndata\ndata:  b\n\n", []sseEvent{{Type: "message", Data: "a\n\n b"}}, ""},
		{"no data, no dispatch", "event: put\n\ndata: y\n\n", []sseEvent{{Type: "message", Data: "y"}}, ""},
		{"id only", ": watching\nid: 7\nevent: put\n\ndata: y\n\n", []sseEvent{{ID: "7", HasID: true, IDOnly: true}, {Type: "message", Data: "y"}}, "7"},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x00\ndata: z\n\n", []sseEvent{{Type: "message", Data: "a", ID: "1", HasID: true}, {Type: "message", Data: "z"}}, "1"},
		{"unknown fields", "retry: 10\nfoo: bar\ndata: q\n\n", []sseEvent{{Type: "message", Data: "q"}}, ""},
		{"incomplete last event", "data: a\n\ndata: b\n", []sseEvent{{Type: "message", Data: "a"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lastID, err := readAll(t, tc.in, 1<<10)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("err %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("event %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if lastID != tc.lastID {
				t.Fatalf("last event id %q, want %q", lastID, tc.lastID)
			}
		})
	}
	if _, _, err := readAll(t, "data: "+strings.Repeat("x", 100)+"\n\n", 64); !errors.Is(err, errSSETooLong) {
		t.Fatalf("a long line: %v", err)
	}
	if _, _, err := readAll(t, strings.Repeat("data: xxxxxxxxxx\n", 10)+"\n", 64); !errors.Is(err, errSSETooLong) {
		t.Fatalf("long data: %v", err)
	}
}

// FuzzSSE parses anything without panicking, within its bound, and checks
// that the events it finds, written back in the canonical form, parse to
// the same events.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: put\ndata: {\"key\":\"aw==\",\"revision\":1}\n\n",
		": watching\n\nevent: error\ndata: {\"code\":\"slow_consumer\",\"resume_from\":3}\n\n",
		"data: a\r\ndata: b\r\rid\n\n", "\xEF\xBB\xBFdata\n\n", "id: \x00\n", "\r\n\r\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const max = 256
		got, _, err := readAll(t, in, max)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errSSETooLong) {
			t.Fatalf("unexpected error %v", err)
		}
		var b strings.Builder
		for _, ev := range got {
			if len(ev.Data) > max {
				t.Fatalf("data of %d bytes past the bound %d", len(ev.Data), max)
			}
			if ev.HasID {
				b.WriteString("id: " + ev.ID + "\n")
			}
			if ev.IDOnly {
				b.WriteString("\n")
				continue
			}
			b.WriteString("event: " + ev.Type + "\n")
			for line := range strings.SplitSeq(ev.Data, "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
		}
		again, _, err := readAll(t, b.String(), 4*max+64)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(again) != len(got) {
			t.Fatalf("re-parsed %d events, want %d: %q", len(again), len(got), b.String())
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("event %d re-parsed as %+v, want %+v", i, again[i], got[i])
			}
		}
	})
}
