package promtexttest_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amaters-server/promtext/promtexttest"
)

// TestCheckVectors runs Check over every shared vector; the verdict comes
// from the file name, so a new vector file is covered automatically.
func TestCheckVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 24 {
		t.Fatalf("found %d vectors, want at least 24", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			err = promtexttest.Check(data)
			switch prefix, _, _ := strings.Cut(name, "_"); prefix {
			case "good", "lint":
				if err != nil {
					t.Errorf("Check rejects a valid exposition: %v", err)
				}
			case "bad", "spec":
				if err == nil {
					t.Fatal("Check accepts an invalid exposition")
				}
				if !errors.Is(err, promtexttest.ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				var le *promtexttest.LineError
				if !errors.As(err, &le) || le.Line < 1 {
					t.Errorf("error %v carries no line number", err)
				}
				t.Log(err)
			default:
				t.Fatalf("vector %s has no good_/lint_/bad_/spec_ prefix", name)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	const hist = "# TYPE h histogram\n"
	tests := []struct {
		name    string
		in      string
		line    int    // 0: valid
		msgPart string // part of the first error
	}{
		{"empty input", "", 0, ""},
		{"blank lines and comments", "\n# just a comment\n   \n#\n", 0, ""},
		{"untyped without metadata", "x 1\ny{a=\"b\"} 2\n", 0, ""},
		{"explicit untyped", "# TYPE x untyped\nx 1\n", 0, ""},
		{"help without text", "# HELP x\nx 1\n", 0, ""},
		{"help after type", "# TYPE x gauge\n# HELP x X.\nx 1\n", 0, ""},
		{"metadata without samples", "# HELP x X.\n# TYPE x counter\n# HELP y Y.\n", 0, ""},
		{"colon in name", "a:b_total 1\n", 0, ""},
		{"blanks around labels", "x { a = \"1\" , b=\"2\" , } 1\n", 0, ""},
		{"empty label set", "x{} 1\n", 0, ""},
		{"tab separators", "x\t1\t-5\n", 0, ""},
		{"negative timestamp", "x 1 -1\n", 0, ""},
		{"float forms", "a 1e3\nb -0.5\nc .5\nd +Inf\ne -Inf\nf NaN\ng 0\n", 0, ""},
		{"empty label value", "x{a=\"\"} 1\n", 0, ""},
		{"same labels different order is same series", "x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 1\n", 2, "duplicate series"},
		{"hex float", "x 0x1p3\n", 1, "invalid value"},
		{"underscore float", "x 1_000\n", 1, "invalid value"},
		{"missing value", "x\n", 1, "missing value"},
		{"missing value after labels", "x{a=\"b\"}\n", 1, "missing value"},
		{"extra token", "x 1 2 3\n", 1, "unexpected text"},
		{"timestamp overflow", "x 1 99999999999999999999\n", 1, "invalid timestamp"},
		{"label name starting with digit", "x{1a=\"b\"} 1\n", 1, "invalid label name"},
		{"label without quotes", "x{a=b} 1\n", 1, "quoted value"},
		{"label without equals", "x{a} 1\n", 1, "expected ="},
		{"unterminated labels", "x{a=\"b\" 1\n", 1, "expected , or }"},
		{"backslash at end of value", "x{a=\"b\\\n", 1, "unterminated"},
		{"invalid utf8 value", "x{a=\"\xff\"} 1\n", 1, "UTF-8"},
		{"invalid utf8 help", "# HELP x \xff\n", 1, "UTF-8"},
		{"invalid help escape", "# HELP x a\\tb\n", 1, "invalid escape"},
		{"help trailing backslash", "# HELP x a\\\n", 1, "backslash"},
		{"help without name", "# HELP\n", 1, "invalid metric name"},
		{"type without type", "# TYPE x\n", 1, "unknown type"},
		{"type with extra text", "# TYPE x gauge extra\n", 1, "unexpected text"},
		{"help after samples", "x 1\n# HELP x X.\n", 2, "after its samples"},
		{"help for finished family", "# HELP x X.\nx 1\ny 1\n# HELP x Again.\n", 4, "second HELP"},
		{"type for finished family", "x 1\ny 1\n# TYPE x gauge\n", 3, "interrupted"},
		{"histogram suffix after family", hist + "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\ny 1\nh_sum 2\n", 6, "interrupted"},
		{"histogram ok", hist + "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n", 0, ""},
		{"histogram series interleaved ok", hist + "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 2\nh_sum{a=\"1\"} 1\nh_sum{a=\"2\"} 1\nh_count{a=\"2\"} 2\nh_count{a=\"1\"} 1\n", 0, ""},
		{"histogram le other spelling", hist + "h_bucket{le=\"1.0\"} 0\nh_bucket{le=\"+inf\"} 1\nh_sum 3\nh_count 1\n", 0, ""},
		{"histogram bare sample", hist + "h 1\n", 2, "without _bucket"},
		{"histogram bucket without le", hist + "h_bucket 1\n", 2, "without le"},
		{"histogram le on sum", hist + "h_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\n", 3, "le label on h_sum"},
		{"histogram bad le", hist + "h_bucket{le=\"one\"} 1\n", 2, "invalid le"},
		{"histogram NaN le", hist + "h_bucket{le=\"NaN\"} 1\n", 2, "invalid le"},
		{"histogram NaN count", hist + "h_bucket{le=\"+Inf\"} NaN\nh_sum 1\nh_count NaN\n", 2, "not a count"},
		{"histogram bucket after inf", hist + "h_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"5\"} 1\nh_sum 1\nh_count 1\n", 3, "does not increase"},
		{"histogram duplicate bucket", hist + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\n", 3, "duplicate series"},
		{"histogram missing sum", hist + "h_bucket{le=\"+Inf\"} 1\nh_count 1\n", 2, "no h_sum"},
		{"histogram missing count", hist + "h_bucket{le=\"+Inf\"} 1\nh_sum 1\n", 2, "no h_count"},
		{"histogram only sum and count", hist + "h_sum 1\nh_count 1\n", 2, "no le=\"+Inf\""},
		{"histogram family name conflict", "h_count 1\n" + hist, 2, "already wrote"},
		{"summary ok", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n", 0, ""},
		{"summary without quantiles", "# TYPE s summary\ns_sum 2\ns_count 3\n", 0, ""},
		{"summary without quantile label", "# TYPE s summary\ns 1\ns_sum 2\ns_count 3\n", 2, "without quantile"},
		{"summary bad quantile", "# TYPE s summary\ns{quantile=\"x\"} 1\ns_sum 2\ns_count 3\n", 2, "invalid quantile"},
		{"summary quantile on sum", "# TYPE s summary\ns_sum{quantile=\"1\"} 2\n", 2, "quantile label on s_sum"},
		{"summary missing count", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\n", 2, "no s_count"},
		{"counter suffix is its own family", "# TYPE c counter\nc 1\nc_sum 1\n", 0, ""},
		{"cr inside line", "x{a=\"\r\"} 1\n", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := promtexttest.Check([]byte(tc.in))
			if tc.line == 0 {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			var le *promtexttest.LineError
			if !errors.As(err, &le) {
				t.Fatalf("Check(%q) = %v, want a LineError", tc.in, err)
			}
			if le.Line != tc.line || !strings.Contains(le.Msg, tc.msgPart) {
				t.Errorf("Check(%q) first error %q, want line %d containing %q", tc.in, le, tc.line, tc.msgPart)
			}
		})
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	in := "x 1\r\nbad-name 1\ny{__a=\"1\"} 2\nx 3\n"
	err := promtexttest.Check([]byte(in))
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *promtexttest.LineError
		if !errors.As(e, &le) {
			t.Fatalf("%v is not a LineError", e)
		}
		lines = append(lines, le.Line)
	}
	if want := []int{1, 2, 3, 4}; !slices.Equal(lines, want) {
		t.Errorf("errors on lines %v, want %v: %v", lines, want, err)
	}

	many := strings.Repeat("bad-name 1\n", 500)
	errs := promtexttest.Check([]byte(many)).(interface{ Unwrap() []error }).Unwrap()
	if len(errs) != 101 {
		t.Errorf("got %d errors for 500 bad lines, want 100 and a final one", len(errs))
	}
}
