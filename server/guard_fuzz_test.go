package server

import (
	"errors"
	"net/http"
	"strconv"
	"testing"

	"amaters-server/server/store"
)

// FuzzWriteGuard: any If-Match / If-None-Match pair is either a valid
// store guard, which written back as a header reads the same, or a 400.
func FuzzWriteGuard(f *testing.F) {
	for _, s := range [][2]string{{`"1"`, ""}, {"*", ""}, {"", "*"}, {`W/"3"`, ""}, {`"0"`, ""}, {`"18446744073709551616"`, ""}, {`"1", "2"`, ""}, {"", `"5"`}, {`"007"`, ""}} {
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, im, inm string, put bool) {
		h := http.Header{}
		if im != "" {
			h["If-Match"] = []string{im}
		}
		if inm != "" {
			h["If-None-Match"] = []string{inm}
		}
		g, err := writeGuard(h, put)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		back := http.Header{}
		switch g.Kind {
		case store.GuardNone:
			if im != "" || inm != "" {
				t.Fatalf("%q %q read as no guard", im, inm)
			}
			return
		case store.GuardRevision:
			if g.Revision == 0 {
				t.Fatal("a revision guard of 0")
			}
			back.Set("If-Match", `"`+strconv.FormatUint(g.Revision, 10)+`"`)
		case store.GuardExists:
			back.Set("If-Match", "*")
		case store.GuardAbsent:
			if !put {
				t.Fatal("If-None-Match: * on a DELETE")
			}
			back.Set("If-None-Match", "*")
		}
		if g2, err := writeGuard(back, put); err != nil || g2 != g {
			t.Fatalf("%+v written back reads %+v, %v", g, g2, err)
		}
	})
}

// FuzzNoneMatch: a GET's If-None-Match never panics, and a list holding
// the key's own tag matches.
func FuzzNoneMatch(f *testing.F) {
	f.Add(`"1"`, uint64(1))
	f.Add(`W/"2", "3"`, uint64(3))
	f.Add(`*`, uint64(9))
	f.Add(`"`, uint64(1))
	f.Fuzz(func(t *testing.T, v string, rev uint64) {
		noneMatch([]string{v}, rev)
		if rev > 0 && !noneMatch([]string{v + "," + etag(rev)}, rev) {
			t.Fatalf("%q plus its own tag does not match %d", v, rev)
		}
	})
}

// FuzzPutQuery: a PUT's query is a ttl in range, none, or a 400.
func FuzzPutQuery(f *testing.F) {
	for _, s := range []string{"", "ttl=5", "ttl=0", "ttl=-1", "ttl=+5", "ttl=315360000", "ttl=315360001", "ttl=1&ttl=2", "x=1", "ttl", "%zz", "&", "ttl=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ttl, err := parsePutQuery(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if ttl < 0 || ttl > maxTTL {
			t.Fatalf("ttl %d out of range from %q", ttl, raw)
		}
	})
}
