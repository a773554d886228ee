package server

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzGetQuery: a GET's query is a 400, or it names at most the one
// consistency parameter with one of its two values, and the read is
// serializable exactly when that value says so.
func FuzzGetQuery(f *testing.F) {
	for _, s := range []string{"", "consistency=serializable", "consistency=linearizable", "consistency=", "consistency",
		"consistency=serializable&consistency=serializable", "x=1", "%zz", "&", "consistency=Serializable", "consistency=serializable&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		serializable, err := parseGetQuery(raw)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		vals, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("accepted a query that does not parse: %q", raw)
		}
		for name, v := range vals {
			if name != "consistency" || len(v) != 1 || (v[0] != "serializable" && v[0] != "linearizable") {
				t.Fatalf("accepted %q", raw)
			}
		}
		if serializable != (vals.Get("consistency") == "serializable") {
			t.Fatalf("%q: serializable = %v", raw, serializable)
		}
	})
}
