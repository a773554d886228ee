package promtexttest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/promtext/promtexttest"
)

// FuzzCheck feeds arbitrary input to Check: it must not panic, must be
// deterministic, and every error it returns must be a LineError.
func FuzzCheck(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range append(files, filepath.Join("..", "testdata", "registry.golden")) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := promtexttest.Check(data)
		err2 := promtexttest.Check(data)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("Check is not deterministic: %v / %v", err, err2)
		}
		if err == nil {
			if len(data) > 0 && data[len(data)-1] != '\n' {
				t.Fatalf("accepted input without a final line feed: %q", data)
			}
			return
		}
		if !errors.Is(err, promtexttest.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		var le *promtexttest.LineError
		if !errors.As(err, &le) || le.Line < 1 || le.Line > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("error %v has no valid line number", err)
		}
	})
}
