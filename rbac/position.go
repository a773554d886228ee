package rbac

import "strings"

// Where things are in a TOML file. BurntSushi/toml does not tell the line
// of a key (and not at all inside an array of tables), so [ScanTOML] reads
// the text again, after the decoder has accepted it, and records the line
// of every table header, inline table, key and array element. It
// understands just enough TOML for that: headers, keys, strings, arrays and
// inline tables. Its lines only serve messages, and the methods of
// [TOMLPositions] answer 0 (no line) whenever the scan disagrees with what
// was decoded, rather than guess.
//
// The roles file's loader uses it, and so does the server's configuration
// loader (package server/config), which imports it from here: rbac sits
// below the server in the one-way import order, so this is the one place
// both can reach without a package of its own.

// TOMLPositions is where one table of a TOML document is: the line of its
// header ([[roles]], [server]) or of its opening brace, and the lines of
// its keys. Every method accepts a nil receiver and then answers 0 or nil.
// It is immutable once [ScanTOML] returns it, and safe for concurrent use.
type TOMLPositions struct {
	line   int
	keys   map[string]int              // key -> line of the key (first definition)
	tables map[string][]*TOMLPositions // key -> its table, or the tables of its array of tables, in order
	elems  map[string][]int            // key -> line of each element of its array value
}

func newPositions(line int) *TOMLPositions {
	return &TOMLPositions{line: line, keys: map[string]int{}, tables: map[string][]*TOMLPositions{}, elems: map[string][]int{}}
}

// Line returns the line of the table itself, or 0.
func (t *TOMLPositions) Line() int {
	if t == nil {
		return 0
	}
	return t.line
}

// Key returns the line of key k, or 0.
func (t *TOMLPositions) Key(k string) int {
	if t == nil {
		return 0
	}
	return t.keys[k]
}

// Elem returns the line of element i of the array of key k, which was
// decoded with n elements. It falls back to the line of the key when the
// scan counted another number of elements.
func (t *TOMLPositions) Elem(k string, i, n int) int {
	if t == nil {
		return 0
	}
	if lines := t.elems[k]; len(lines) == n && i >= 0 && i < n {
		return lines[i]
	}
	return t.keys[k]
}

// Children returns where each of the n tables of key k is (an array of
// tables, [[k]] or k = [{...}]), or nil when the scan did not find exactly
// n of them.
func (t *TOMLPositions) Children(k string, n int) []*TOMLPositions {
	if t == nil || len(t.tables[k]) != n {
		return nil
	}
	return t.tables[k]
}

// Table returns where the table of key k is ([k], or the k of a dotted key
// k.x = ...), or nil when k is not one table.
func (t *TOMLPositions) Table(k string) *TOMLPositions {
	if t == nil || len(t.tables[k]) != 1 {
		return nil
	}
	return t.tables[k][0]
}

// pick returns ts[i], or nil when it has no element i.
func pick(ts []*TOMLPositions, i int) *TOMLPositions {
	if i < 0 || i >= len(ts) {
		return nil
	}
	return ts[i]
}

// TOMLTypeName names the TOML type of a value decoded into an any, for
// messages such as "must be a string, not an integer".
func TOMLTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	// The decoder's one other type: time.Time, for the offset and local
	// dates and times.
	return "a date or time"
}

// ScanTOML returns where the tables and keys of a TOML document are.
// On text it does not understand it stops and returns what it found so
// far; it never fails otherwise.
func ScanTOML(text string) *TOMLPositions {
	sc := &scanner{s: strings.TrimPrefix(text, "\ufeff"), line: 1}
	root := newPositions(0)
	cur := root
	for {
		sc.skip(true)
		if sc.eof() {
			return root
		}
		if sc.peek() == '[' {
			if cur = sc.header(root); cur == nil {
				return root
			}
		} else if !sc.keyValue(cur) {
			return root
		}
		sc.skip(false)
		if !sc.eof() && sc.peek() != '\n' {
			return root
		}
	}
}

// scanner walks a TOML text, counting lines.
type scanner struct {
	s    string
	i    int
	line int // of s[i], from 1
}

func (sc *scanner) eof() bool  { return sc.i >= len(sc.s) }
func (sc *scanner) peek() byte { return sc.s[sc.i] }

// skip skips blanks and comments, and newlines too if newlines is set.
func (sc *scanner) skip(newlines bool) {
	for !sc.eof() {
		switch sc.peek() {
		case ' ', '\t', '\r':
			sc.i++
		case '#':
			for !sc.eof() && sc.peek() != '\n' {
				sc.i++
			}
		case '\n':
			if !newlines {
				return
			}
			sc.i++
			sc.line++
		default:
			return
		}
	}
}

// lit consumes s if the text continues with it.
func (sc *scanner) lit(s string) bool {
	if !sc.eof() && strings.HasPrefix(sc.s[sc.i:], s) {
		sc.i += len(s)
		return true
	}
	return false
}

// header reads a [table] or [[array.of.tables]] header and returns the
// table that the following keys belong to, or nil if it cannot read it.
func (sc *scanner) header(root *TOMLPositions) *TOMLPositions {
	line := sc.line
	array := sc.lit("[[")
	if !array {
		sc.i++ // '['
	}
	parts, exact := sc.key()
	if parts == nil {
		return nil
	}
	sc.skip(false)
	if array && !sc.lit("]]") || !array && !sc.lit("]") {
		return nil
	}
	if !exact {
		return newPositions(line) // somewhere we cannot name: record into a table nobody looks at
	}
	t := root
	for j, p := range parts {
		if _, ok := t.keys[p]; !ok {
			t.keys[p] = line
		}
		if j == len(parts)-1 && array {
			nt := newPositions(line)
			t.tables[p] = append(t.tables[p], nt)
			t = nt
			continue
		}
		t = t.child(p, line)
	}
	return t
}

// child returns the last table under key k, making it if there is none.
func (t *TOMLPositions) child(k string, line int) *TOMLPositions {
	if ts := t.tables[k]; len(ts) > 0 {
		return ts[len(ts)-1]
	}
	nt := newPositions(line)
	t.tables[k] = []*TOMLPositions{nt}
	return nt
}

// keyValue reads key = value into t.
func (sc *scanner) keyValue(t *TOMLPositions) bool {
	line := sc.line
	parts, exact := sc.key()
	if parts == nil {
		return false
	}
	sc.skip(false)
	if !sc.lit("=") {
		return false
	}
	if !exact {
		t = newPositions(line)
	}
	for j, p := range parts {
		if _, ok := t.keys[p]; !ok {
			t.keys[p] = line
		}
		if j < len(parts)-1 {
			t = t.child(p, line)
		}
	}
	return sc.value(t, parts[len(parts)-1])
}

// key reads a dotted key. exact is false when a part has escapes, which
// key does not decode: such a key is not recorded.
func (sc *scanner) key() (parts []string, exact bool) {
	exact = true
	for {
		sc.skip(false)
		if sc.eof() {
			return nil, false
		}
		var part string
		switch c := sc.peek(); c {
		case '"', '\'':
			start := sc.i + 1
			if !sc.str() {
				return nil, false
			}
			part = sc.s[start : sc.i-1]
			if c == '"' && strings.ContainsRune(part, '\\') {
				exact = false
			}
		default:
			start := sc.i
			for !sc.eof() && !strings.ContainsRune(" \t\r\n=.[]\"'#,{}", rune(sc.peek())) {
				sc.i++
			}
			if sc.i == start {
				return nil, false
			}
			part = sc.s[start:sc.i]
		}
		parts = append(parts, part)
		sc.skip(false)
		if !sc.lit(".") {
			return parts, exact
		}
	}
}

// value reads the value of key k of t.
func (sc *scanner) value(t *TOMLPositions, k string) bool {
	sc.skip(false)
	if sc.eof() {
		return false
	}
	switch sc.peek() {
	case '"', '\'':
		return sc.str()
	case '[':
		return sc.array(t, k)
	case '{':
		nt := newPositions(sc.line)
		t.tables[k] = append(t.tables[k], nt)
		return sc.inline(nt)
	}
	// A number, boolean or date-time, which may hold a space.
	start := sc.i
	for !sc.eof() && !strings.ContainsRune(",]}#\n", rune(sc.peek())) {
		sc.i++
	}
	return sc.i > start
}

// array reads an array, the value of key k of t: the line of each element
// and each inline table in it are recorded.
func (sc *scanner) array(t *TOMLPositions, k string) bool {
	sc.i++ // '['
	var lines []int
	for {
		sc.skip(true)
		if sc.eof() {
			return false
		}
		if sc.lit("]") {
			break
		}
		lines = append(lines, sc.line)
		if sc.peek() == '{' {
			nt := newPositions(sc.line)
			t.tables[k] = append(t.tables[k], nt)
			if !sc.inline(nt) {
				return false
			}
		} else if !sc.value(newPositions(sc.line), "") { // nested: not recorded
			return false
		}
		sc.skip(true)
		if sc.lit(",") {
			continue
		}
		if sc.lit("]") {
			break
		}
		return false
	}
	t.elems[k] = lines
	return true
}

// inline reads an inline table into t. Newlines are allowed in it, as
// TOML 1.1 allows them.
func (sc *scanner) inline(t *TOMLPositions) bool {
	sc.i++ // '{'
	for {
		sc.skip(true)
		if sc.eof() {
			return false
		}
		if sc.lit("}") {
			return true
		}
		if !sc.keyValue(t) {
			return false
		}
		sc.skip(true)
		if sc.lit(",") {
			continue
		}
		return sc.lit("}")
	}
}

// str skips a basic, literal or multi-line string, counting its lines.
func (sc *scanner) str() bool {
	q := sc.peek()
	escapes := q == '"'
	if triple := strings.Repeat(string(q), 3); sc.lit(triple) {
		for !sc.eof() {
			switch c := sc.peek(); {
			case c == '\\' && escapes:
				if sc.i+1 < len(sc.s) && sc.s[sc.i+1] == '\n' {
					sc.line++
				}
				sc.i += 2
				continue
			case c == '\n':
				sc.line++
			case sc.lit(triple):
				for n := 0; n < 2 && !sc.eof() && sc.peek() == q; n++ {
					sc.i++ // up to two quotes may end the content
				}
				return true
			}
			sc.i++
		}
		return false
	}
	sc.i++
	for !sc.eof() {
		switch c := sc.peek(); {
		case c == '\\' && escapes:
			sc.i += 2
			continue
		case c == q:
			sc.i++
			return true
		case c == '\n':
			return false
		}
		sc.i++
	}
	return false
}
