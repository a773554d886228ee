package watch

import (
	"bytes"
	"net/url"
	"strconv"
	"testing"
)

// FuzzParseQuery checks that any query and Last-Event-ID parse or fail
// without a panic, and that a parsed filter is the range the parameters
// describe: a prefix matches its keys and no key after them, and
// Last-Event-ID R resumes at R + 1.
func FuzzParseQuery(f *testing.F) {
	f.Add("prefix=a%2F&from=3", "")
	f.Add("start=a&end=b", "7")
	f.Add("prefix=%FF%FF", " 18446744073709551614 ")
	f.Add("from=0", "x")
	f.Add("limit=1&from=1&from=2", "")
	f.Fuzz(func(t *testing.T, raw, lastID string) {
		q, err := parseQuery(raw, lastID, 4096)
		if err != nil {
			return
		}
		if q.f.start == nil {
			t.Fatal("nil start")
		}
		vals, _ := url.ParseQuery(raw)
		if id, err := strconv.ParseUint(lastID, 10, 64); err == nil && q.from != id+1 {
			t.Fatalf("Last-Event-ID %q: from %d", lastID, q.from)
		}
		p := []byte(vals.Get("prefix"))
		if len(p) == 0 || vals.Get("start") != "" || vals.Get("end") != "" {
			return
		}
		if !q.f.match(p) || !q.f.match(append(bytes.Clone(p), 0xff, 0)) {
			t.Fatalf("prefix %q does not match its keys (filter %+v)", p, q.f)
		}
		if pe := prefixEnd(p); pe != nil && q.f.match(pe) {
			t.Fatalf("prefix %q matches %q", p, pe)
		}
	})
}
