package authn

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small, strict JSON reader for JOSE headers and JWT claim
// sets. encoding/json is not used for them on purpose: decoding into a struct
// matches member names case-insensitively and keeps the last duplicate, so
// {"alg":"HS256","Alg":"none"} would silently become "none". Here a header or
// claim set is read as one flat list of top-level members, and any two member
// names that are equal or differ only in case (after unescaping, so "\u0061lg"
// is "alg") make the whole object invalid.
//
// The reader accepts exactly RFC 8259 JSON: no comments, no trailing commas,
// no leading zeros, no control characters or invalid UTF-8 in strings, no lone
// UTF-16 surrogates in \u escapes, and nothing but whitespace after the value.

// Limits of the strict reader. Tokens are capped at MaxTokenBytes, so these
// only bound the work an attacker can ask for.
const (
	maxJSONDepth   = 32  // nesting of arrays and objects inside a member value
	maxJSONMembers = 256 // top-level members of a header or claim set
	foldPairwise   = 16  // up to this many names, compare names pairwise
)

// errJSON is the one error the strict reader returns: callers turn it into an
// *Error with a fixed reason, so the detail would be thrown away anyway.
var errJSON = errors.New("authn: invalid JSON")

// member is one top-level member of a JSON object. name and value alias the
// input; name is the raw text between the quotes (escapes not decoded).
type member struct {
	name    []byte
	escaped bool   // name contains backslash escapes
	value   []byte // raw JSON value, starting with its first byte
}

// nameIs reports whether the member's decoded name equals s exactly.
func (m *member) nameIs(s string) bool {
	if !m.escaped {
		return string(m.name) == s
	}
	d, err := unquote(m.name)
	return err == nil && d == s
}

// jsonScanner validates JSON text by recursive descent over data[pos:].
type jsonScanner struct {
	data  []byte
	pos   int
	depth int
}

// parseObject checks that data is exactly one JSON object and appends its
// top-level members to dst. Duplicate and case-variant names are refused.
func parseObject(data []byte, dst []member) ([]member, error) {
	s := jsonScanner{data: data}
	s.skipSpace()
	if !s.consume('{') {
		return dst, errJSON
	}
	first := len(dst)
	s.skipSpace()
	if !s.consume('}') {
		for {
			s.skipSpace()
			if s.peek() != '"' {
				return dst, errJSON
			}
			start := s.pos + 1
			esc, err := s.str()
			if err != nil {
				return dst, err
			}
			name := s.data[start : s.pos-1]
			s.skipSpace()
			if !s.consume(':') {
				return dst, errJSON
			}
			s.skipSpace()
			vstart := s.pos
			if err := s.value(); err != nil {
				return dst, err
			}
			if len(dst)-first >= maxJSONMembers {
				return dst, errJSON
			}
			dst = append(dst, member{name: name, escaped: esc, value: s.data[vstart:s.pos]})
			s.skipSpace()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return dst, errJSON
		}
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return dst, errJSON
	}
	if hasFoldDuplicate(dst[first:]) {
		return dst, errJSON
	}
	return dst, nil
}

// hasFoldDuplicate reports whether two names are equal under Unicode case
// folding. Small objects (the usual case) compare pairwise without
// allocating; larger ones use a map so the cost stays linear.
func hasFoldDuplicate(ms []member) bool {
	if len(ms) <= foldPairwise {
		var names [foldPairwise][]byte
		for i := range ms {
			n := ms[i].name
			if ms[i].escaped {
				d, err := unquote(n)
				if err != nil {
					return true
				}
				n = []byte(d)
			}
			for j := range i {
				if bytes.EqualFold(names[j], n) {
					return true
				}
			}
			names[i] = n
		}
		return false
	}
	seen := make(map[string]struct{}, len(ms))
	for i := range ms {
		d, err := unquote(ms[i].name)
		if err != nil {
			return true
		}
		// Lower(Upper(x)) maps every member of a simple case-folding orbit
		// (k, K, U+212A KELVIN SIGN; s, S, U+017F LONG S) to one key, which
		// is what bytes.EqualFold treats as equal on the pairwise path.
		k := strings.ToLower(strings.ToUpper(d))
		if _, dup := seen[k]; dup {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

func (s *jsonScanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *jsonScanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value validates one JSON value starting at s.pos.
func (s *jsonScanner) value() error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return errJSON
}

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return errJSON
	}
	s.pos += len(lit)
	return nil
}

func (s *jsonScanner) object() error {
	if s.depth++; s.depth > maxJSONDepth {
		return errJSON
	}
	s.pos++ // '{'
	s.skipSpace()
	if s.consume('}') {
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if s.peek() != '"' {
			return errJSON
		}
		if _, err := s.str(); err != nil {
			return err
		}
		s.skipSpace()
		if !s.consume(':') {
			return errJSON
		}
		s.skipSpace()
		if err := s.value(); err != nil {
			return err
		}
		s.skipSpace()
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			s.depth--
			return nil
		}
		return errJSON
	}
}

func (s *jsonScanner) array() error {
	if s.depth++; s.depth > maxJSONDepth {
		return errJSON
	}
	s.pos++ // '['
	s.skipSpace()
	if s.consume(']') {
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if err := s.value(); err != nil {
			return err
		}
		s.skipSpace()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			s.depth--
			return nil
		}
		return errJSON
	}
}

// str validates a string starting at the opening quote and leaves s.pos after
// the closing quote. It reports whether the string contains escapes.
func (s *jsonScanner) str() (escaped bool, err error) {
	s.pos++ // '"'
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				return escaped, errJSON
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) {
					return escaped, errJSON
				}
				for _, h := range s.data[s.pos+2 : s.pos+6] {
					if unhex(h) < 0 {
						return escaped, errJSON
					}
				}
				s.pos += 6
			default:
				return escaped, errJSON
			}
		case c < 0x20:
			return escaped, errJSON
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n <= 1 {
				return escaped, errJSON
			}
			s.pos += n
		}
	}
	return escaped, errJSON
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	s.consume('-')
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return errJSON
	}
	if s.consume('.') {
		if s.digits() == 0 {
			return errJSON
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return errJSON
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func unhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unquote decodes the body of an already validated JSON string (the bytes
// between the quotes). Lone UTF-16 surrogates are refused instead of being
// replaced with U+FFFD, so two different spellings never decode alike.
func unquote(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", errJSON
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", errJSON
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return "", errJSON
				}
				r2, ok := hex4(raw[i+2:])
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return "", errJSON
				}
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", errJSON
		}
		i += 2
	}
	return string(out), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		h := unhex(c)
		if h < 0 {
			return 0, false
		}
		r = r<<4 | h
	}
	return r, true
}

// jsonString decodes a raw JSON value that must be a string.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	s, err := unquote(v[1 : len(v)-1])
	return s, err == nil
}

// jsonStringIs reports whether a raw JSON value is a string, and whether it
// equals want. It allocates only for strings with escapes.
func jsonStringIs(v []byte, want string) (eq, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return false, false
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body) == want, true
	}
	s, err := unquote(body)
	return s == want, err == nil
}

// jsonStrings decodes a raw JSON value that must be an array of strings.
func jsonStrings(v []byte) ([]string, bool) {
	if len(v) < 2 || v[0] != '[' {
		return nil, false
	}
	s := jsonScanner{data: v, pos: 1}
	s.skipSpace()
	if s.consume(']') {
		return []string{}, true
	}
	out := make([]string, 0, 4)
	for {
		s.skipSpace()
		if s.peek() != '"' {
			return nil, false
		}
		start := s.pos + 1
		if _, err := s.str(); err != nil {
			return nil, false
		}
		e, err := unquote(s.data[start : s.pos-1])
		if err != nil {
			return nil, false
		}
		out = append(out, e)
		s.skipSpace()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return out, true
		}
		return nil, false
	}
}

// jsonNumber decodes a raw JSON value that must be a number. Integers of up
// to 15 digits (every realistic NumericDate) are parsed without allocating.
func jsonNumber(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	if len(v) <= 15 {
		n, neg, ok := int64(0), false, true
		for i, c := range v {
			if i == 0 && c == '-' {
				neg = true
				continue
			}
			if c < '0' || c > '9' {
				ok = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if ok && len(v) > 0 && !(neg && len(v) == 1) {
			if neg {
				n = -n
			}
			return float64(n), true
		}
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
