package promtext

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the byte-level rules of text format 0.0.4 that the writer
// follows: names, escaping and number forms. Check (check.go) enforces the
// same rules on the way in.

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*. The
// reserved "__" prefix is checked separately.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// appendLabelValue appends v escaped for use between the quotes of a label
// value: backslash, double quote and line feed are the only escapes.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp appends help escaped for a HELP line: backslash and line feed
// are the only escapes. A carriage return becomes a space, because a line
// ending in CR is indistinguishable from a CRLF line ending, which the format
// forbids.
func appendHelp(b []byte, help string) []byte {
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends f the way Prometheus writes sample values: +Inf, -Inf,
// NaN, or the shortest decimal that round-trips.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case f == math.Trunc(f) && -1e6 < f && f < 1e6 && !(f == 0 && math.Signbit(f)):
		// Integers below 10⁶ print the same with 'g' (which switches to
		// an exponent at 10⁶), but AppendInt is several times faster, and
		// counters mostly hold such values.
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendLabels appends `{n1="v1",n2="v2"` plus `,extra="extraValue"` when
// extra is not empty, and the closing brace. With no labels and no extra it
// appends nothing.
func appendLabels(b []byte, names, values []string, extra, extraValue string) []byte {
	if len(names) == 0 && extra == "" {
		return b
	}
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, values[i])
		b = append(b, '"')
	}
	if extra != "" {
		if len(names) > 0 {
			b = append(b, ',')
		}
		b = append(b, extra...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, extraValue)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendHeader appends the HELP and TYPE lines of a family.
func appendHeader(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// validUTF8Values returns values unchanged when they are all valid UTF-8 and
// otherwise a copy with invalid sequences replaced by U+FFFD.
func validUTF8Values(values []string) []string {
	for i, v := range values {
		if !utf8.ValidString(v) {
			out := make([]string, len(values))
			copy(out, values[:i])
			for j := i; j < len(values); j++ {
				out[j] = strings.ToValidUTF8(values[j], "\uFFFD")
			}
			return out
		}
	}
	return values
}
