package promtexttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCheckErrors bounds the problems Check reports, so that checking a
// large garbage input stays cheap.
const maxCheckErrors = 100

// Check validates data as a text format 0.0.4 exposition and returns nil
// when it is valid. Otherwise it returns the [errors.Join] of one
// [*LineError] per problem (each wraps [ErrInvalid]), at most 100.
//
// It is stricter than promtool check metrics: besides the syntax (line
// feeds only and a final one, names, label names and the reserved "__"
// prefix, duplicate label names, escapes in label values and HELP, valid
// UTF-8, float values and int64 millisecond timestamps, the five TYPE
// values) it enforces the structure: at most one HELP and one TYPE per
// family and before its samples; all lines of a family in one uninterrupted
// group; every name and label set at most once; for a histogram, le labels
// strictly increasing, cumulative bucket counts, an le="+Inf" bucket equal
// to _count, and _sum and _count present for every series; for a summary, a
// quantile label on every bare sample and _sum and _count for every series.
// It does not lint (HELP presence, _total suffixes): those are valid syntax.
func Check(data []byte) error {
	c := checker{
		help:   make(map[string]bool),
		typ:    make(map[string]bool),
		closed: make(map[string]string),
		series: make(map[string]int),
	}
	n := 0
	for len(data) > 0 && len(c.errs) < maxCheckErrors {
		n++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
			c.errorf(n, "last line does not end with a line feed")
		}
		if l := len(line); l > 0 && line[l-1] == '\r' {
			c.errorf(n, "line ends with a carriage return (lines must end with \\n only)")
			line = line[:l-1]
		}
		c.line(n, string(line))
	}
	c.closeFamily()
	if len(c.errs) >= maxCheckErrors {
		c.errs = append(c.errs[:maxCheckErrors], &LineError{Line: n, Msg: "too many errors"})
	}
	return errors.Join(c.errs...)
}

// checker is the state of one Check call.
type checker struct {
	errs []error
	cur  *famCheck       // the family whose lines are being read
	help map[string]bool // names that had a HELP line
	typ  map[string]bool // names that had a TYPE line
	// closed maps every line name of a finished family (a histogram x:
	// x, x_bucket, x_sum, x_count) to the family, to detect a family
	// whose lines are interrupted by another one.
	closed map[string]string
	series map[string]int // name and sorted label set → line
}

// famCheck is the family being read.
type famCheck struct {
	name    string
	typ     string // TYPE value; "" without a TYPE line (untyped)
	samples int
	// parts holds, for histograms and summaries, the series (label set
	// without le or quantile) in order of appearance.
	parts    map[string]*partCheck
	partKeys []string
}

// partCheck follows one histogram or summary series.
type partCheck struct {
	line       int // first line
	buckets    int
	lastLe     float64
	lastCount  float64
	inf        bool
	infCount   float64
	sum, count bool
	countLine  int
	countValue float64
}

// label is one parsed label pair.
type label struct{ name, value string }

func (c *checker) errorf(line int, format string, args ...any) {
	c.errs = append(c.errs, &LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

func trimBlank(s string) string { return strings.TrimLeft(s, " \t") }

// token splits s at its first blank.
func token(s string) (tok, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func (c *checker) line(n int, s string) {
	s = trimBlank(s)
	switch {
	case s == "":
		// Empty lines are allowed anywhere.
	case s[0] == '#':
		c.comment(n, trimBlank(s[1:]))
	default:
		c.sample(n, s)
	}
}

// comment handles a line that started with '#': a HELP or TYPE line, or a
// plain comment.
func (c *checker) comment(n int, s string) {
	kw, rest := token(s)
	if kw != "HELP" && kw != "TYPE" {
		return
	}
	name, rest := token(trimBlank(rest))
	if !validMetricName(name) {
		c.errorf(n, "%s line: invalid metric name %q", kw, name)
		return
	}
	rest = trimBlank(rest)
	if kw == "HELP" {
		if err := checkHelp(rest); err != "" {
			c.errorf(n, "HELP %s: %s", name, err)
		}
		c.header(n, c.help, "HELP", name)
		return
	}
	typ, extra := token(rest)
	if trimBlank(extra) != "" {
		c.errorf(n, "TYPE %s: unexpected text after the type", name)
		return
	}
	switch typ {
	case "counter", "gauge", "histogram", "summary", "untyped":
	default:
		c.errorf(n, "TYPE %s: unknown type %q", name, typ)
		return
	}
	if f := c.header(n, c.typ, "TYPE", name); f != nil {
		f.typ = typ
		for _, sn := range lineNames(name, typ) {
			if owner, ok := c.closed[sn]; ok && sn != name {
				c.errorf(n, "%s %s writes %s, which family %s already wrote", typ, name, sn, owner)
			}
		}
	}
}

// checkHelp validates HELP text: only \\ and \n are escapes, and the text
// is UTF-8.
func checkHelp(s string) string {
	if !utf8.ValidString(s) {
		return "invalid UTF-8"
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if i+1 == len(s) {
			return "backslash at end of line"
		}
		i++
		if s[i] != '\\' && s[i] != 'n' {
			return fmt.Sprintf("invalid escape \\%c (only \\\\ and \\n)", s[i])
		}
	}
	return ""
}

// header handles a HELP or TYPE line for name and returns the family it
// belongs to, or nil when the line is rejected.
func (c *checker) header(n int, seen map[string]bool, kw, name string) *famCheck {
	if seen[name] {
		c.errorf(n, "second %s line for %s", kw, name)
		return nil
	}
	seen[name] = true
	if c.cur != nil && c.cur.name == name {
		if c.cur.samples > 0 {
			c.errorf(n, "%s line for %s after its samples", kw, name)
			return nil
		}
		return c.cur
	}
	c.closeFamily()
	if owner, ok := c.closed[name]; ok {
		c.errorf(n, "family %s interrupted: %s line for %s after other families' lines (a family's lines must form one group)", owner, kw, name)
	}
	c.cur = &famCheck{name: name}
	return c.cur
}

// lineNames returns the sample names a family of type typ writes.
func lineNames(name, typ string) []string {
	switch typ {
	case "histogram":
		return []string{name, name + "_bucket", name + "_sum", name + "_count"}
	case "summary":
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

// suffixOf returns which line of family f the sample name is ("" for the
// bare name, "_bucket", "_sum", "_count"), and whether it belongs to f.
func suffixOf(f *famCheck, name string) (string, bool) {
	if name == f.name {
		return "", true
	}
	rest, ok := strings.CutPrefix(name, f.name)
	if !ok {
		return "", false
	}
	switch {
	case f.typ == "histogram" && rest == "_bucket",
		(f.typ == "histogram" || f.typ == "summary") && (rest == "_sum" || rest == "_count"):
		return rest, true
	}
	return "", false
}

func (c *checker) sample(n int, s string) {
	i := strings.IndexAny(s, " \t{")
	if i < 0 {
		i = len(s)
	}
	name, rest := s[:i], trimBlank(s[i:])
	if !validMetricName(name) {
		c.errorf(n, "invalid metric name %q", name)
		return
	}
	var labels []label
	if strings.HasPrefix(rest, "{") {
		var msg string
		labels, rest, msg = parseLabels(rest[1:])
		if msg != "" {
			c.errorf(n, "%s: %s", name, msg)
			return
		}
		rest = trimBlank(rest)
	}
	valueTok, rest := token(rest)
	if valueTok == "" {
		c.errorf(n, "%s: missing value", name)
		return
	}
	value, err := parseValue(valueTok)
	if err != nil {
		c.errorf(n, "%s: invalid value %q", name, valueTok)
		return
	}
	tsTok, rest := token(trimBlank(rest))
	if tsTok != "" {
		if _, err := strconv.ParseInt(tsTok, 10, 64); err != nil {
			c.errorf(n, "%s: invalid timestamp %q (an int64 of milliseconds)", name, tsTok)
			return
		}
	}
	if trimBlank(rest) != "" {
		c.errorf(n, "%s: unexpected text after the timestamp", name)
		return
	}

	f := c.cur
	suffix, ok := "", false
	if f != nil {
		suffix, ok = suffixOf(f, name)
	}
	if !ok {
		c.closeFamily()
		if owner, seen := c.closed[name]; seen {
			c.errorf(n, "family %s interrupted: sample %s after other families' lines (a family's lines must form one group)", owner, name)
		}
		f = &famCheck{name: name}
		c.cur = f
	}
	f.samples++

	slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
	key := appendKey(nil, []string{name})
	for _, l := range labels {
		key = appendKey(key, []string{l.name, l.value})
	}
	if first, dup := c.series[string(key)]; dup {
		c.errorf(n, "duplicate series %s (first on line %d)", name, first)
		return
	}
	c.series[string(key)] = n

	switch f.typ {
	case "histogram":
		c.histogramLine(n, f, suffix, labels, value)
	case "summary":
		c.summaryLine(n, f, suffix, labels, value)
	}
}

// parseLabels parses the label pairs after '{' and returns them with the
// text after '}', or an error message.
func parseLabels(s string) ([]label, string, string) {
	var labels []label
	for {
		s = trimBlank(s)
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], ""
		}
		i := 0
		for i < len(s) && (s[i] == '_' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z' || i > 0 && '0' <= s[i] && s[i] <= '9') {
			i++
		}
		name := s[:i]
		switch {
		case name == "":
			return nil, "", "invalid label name"
		case strings.HasPrefix(name, "__"):
			return nil, "", fmt.Sprintf("label name %q is reserved (prefix __)", name)
		}
		for _, l := range labels {
			if l.name == name {
				return nil, "", fmt.Sprintf("duplicate label name %q", name)
			}
		}
		s = trimBlank(s[i:])
		if !strings.HasPrefix(s, "=") {
			return nil, "", fmt.Sprintf("label %s: expected =", name)
		}
		s = trimBlank(s[1:])
		if !strings.HasPrefix(s, "\"") {
			return nil, "", fmt.Sprintf("label %s: expected a quoted value", name)
		}
		value, rest, msg := parseLabelValue(s[1:])
		if msg != "" {
			return nil, "", fmt.Sprintf("label %s: %s", name, msg)
		}
		labels = append(labels, label{name, value})
		s = trimBlank(rest)
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
			return labels, s[1:], ""
		default:
			return nil, "", fmt.Sprintf("label %s: expected , or } after the value", name)
		}
	}
}

// parseLabelValue unescapes a label value up to its closing quote and
// returns it with the text after the quote.
func parseLabelValue(s string) (string, string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			v := b.String()
			if !utf8.ValidString(v) {
				return "", "", "invalid UTF-8 in value"
			}
			return v, s[i+1:], ""
		case '\\':
			if i+1 == len(s) {
				break
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Sprintf("invalid escape \\%c in value (only \\\\, \\\" and \\n)", s[i])
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", "unterminated value (a raw line feed or a missing quote)"
}

// parseValue parses a sample value as the Prometheus parser does: Go
// ParseFloat syntax without hexadecimal floats or underscores.
func parseValue(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errors.New("unsupported float syntax")
	}
	return strconv.ParseFloat(s, 64)
}

// partOf returns the histogram or summary series for labels without the
// given special label, creating its state.
func (f *famCheck) partOf(n int, labels []label, special string) *partCheck {
	var key []byte
	for _, l := range labels {
		if l.name != special {
			key = appendKey(key, []string{l.name, l.value})
		}
	}
	if f.parts == nil {
		f.parts = make(map[string]*partCheck)
	}
	p, ok := f.parts[string(key)]
	if !ok {
		p = &partCheck{line: n}
		f.parts[string(key)] = p
		f.partKeys = append(f.partKeys, string(key))
	}
	return p
}

func findLabel(labels []label, name string) (string, bool) {
	for _, l := range labels {
		if l.name == name {
			return l.value, true
		}
	}
	return "", false
}

func (c *checker) histogramLine(n int, f *famCheck, suffix string, labels []label, value float64) {
	le, hasLe := findLabel(labels, "le")
	switch suffix {
	case "":
		c.errorf(n, "histogram %s: sample without _bucket, _sum or _count suffix", f.name)
		return
	case "_sum", "_count":
		if hasLe {
			c.errorf(n, "histogram %s: le label on %s%s", f.name, f.name, suffix)
			return
		}
	case "_bucket":
		if !hasLe {
			c.errorf(n, "histogram %s: bucket without le label", f.name)
			return
		}
	}
	p := f.partOf(n, labels, "le")
	if math.IsNaN(value) || value < 0 {
		if suffix != "_sum" {
			c.errorf(n, "histogram %s: %s%s is %v, not a count", f.name, f.name, suffix, value)
			return
		}
	}
	switch suffix {
	case "_sum":
		p.sum = true
	case "_count":
		p.count, p.countLine, p.countValue = true, n, value
	case "_bucket":
		bound, err := parseValue(le)
		if err != nil || math.IsNaN(bound) {
			c.errorf(n, "histogram %s: invalid le %q", f.name, le)
			return
		}
		if p.buckets > 0 && !(bound > p.lastLe) {
			c.errorf(n, "histogram %s: bucket le=%q does not increase (previous bucket le=%s)", f.name, le, strconv.FormatFloat(p.lastLe, 'g', -1, 64))
		}
		if p.buckets > 0 && value < p.lastCount {
			c.errorf(n, "histogram %s: bucket le=%q count %v is less than the previous bucket's %v (buckets are cumulative)", f.name, le, value, p.lastCount)
		}
		p.buckets++
		p.lastLe, p.lastCount = bound, value
		if math.IsInf(bound, 1) {
			p.inf, p.infCount = true, value
		}
	}
}

func (c *checker) summaryLine(n int, f *famCheck, suffix string, labels []label, value float64) {
	q, hasQ := findLabel(labels, "quantile")
	if suffix == "" {
		if !hasQ {
			c.errorf(n, "summary %s: sample without quantile label", f.name)
			return
		}
		if v, err := parseValue(q); err != nil || math.IsNaN(v) {
			c.errorf(n, "summary %s: invalid quantile %q", f.name, q)
			return
		}
	} else if hasQ {
		c.errorf(n, "summary %s: quantile label on %s%s", f.name, f.name, suffix)
		return
	}
	p := f.partOf(n, labels, "quantile")
	switch suffix {
	case "_sum":
		p.sum = true
	case "_count":
		p.count = true
	}
}

// closeFamily checks the finished family's series and remembers its names.
func (c *checker) closeFamily() {
	f := c.cur
	if f == nil {
		return
	}
	c.cur = nil
	for _, name := range lineNames(f.name, f.typ) {
		if _, ok := c.closed[name]; !ok {
			c.closed[name] = f.name
		}
	}
	for _, k := range f.partKeys {
		p := f.parts[k]
		if f.typ == "histogram" {
			if !p.inf {
				c.errorf(p.line, "histogram %s: series first seen here has no le=\"+Inf\" bucket", f.name)
			} else if p.count && p.infCount != p.countValue {
				c.errorf(p.countLine, "histogram %s: _count %v differs from the le=\"+Inf\" bucket %v", f.name, p.countValue, p.infCount)
			}
		}
		if !p.sum {
			c.errorf(p.line, "%s %s: series first seen here has no %s_sum", f.typ, f.name, f.name)
		}
		if !p.count {
			c.errorf(p.line, "%s %s: series first seen here has no %s_count", f.typ, f.name, f.name)
		}
	}
}

// The checker keeps its own copies of the name rule and the label-set key,
// rather than sharing package promtext's: a checker that shares the
// writer's code cannot catch the writer's mistakes in it.

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

// appendKey appends an unambiguous encoding of values: each value is
// prefixed by its length.
func appendKey(b []byte, values []string) []byte {
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}
