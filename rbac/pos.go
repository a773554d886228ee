package rbac

import "strings"

// Where things are in a roles file. BurntSushi/toml does not tell the line
// of a key inside an array of tables, so [scanPositions] reads the text
// again, after the decoder has accepted it, and records the line of every
// table header, inline table, key and array element. It understands just
// enough TOML for that: headers, keys, strings, arrays and inline tables.
// Its lines only serve messages, and the accessors of [posTable] answer 0
// (no line) whenever the scan disagrees with what was decoded, rather than
// guess.

// posTable is where one table of the file is: the line of its header
// ([[roles]]) or of its opening brace, and the lines of its keys.
type posTable struct {
	line   int
	keys   map[string]int         // key -> line of the key (first definition)
	tables map[string][]*posTable // key -> its table, or the tables of its array of tables, in order
	elems  map[string][]int       // key -> line of each element of its array value
}

func newPosTable(line int) *posTable {
	return &posTable{line: line, keys: map[string]int{}, tables: map[string][]*posTable{}, elems: map[string][]int{}}
}

// at returns the line of the table itself, or 0.
func (t *posTable) at() int {
	if t == nil {
		return 0
	}
	return t.line
}

// key returns the line of key k, or 0.
func (t *posTable) key(k string) int {
	if t == nil {
		return 0
	}
	return t.keys[k]
}

// elem returns the line of element i of the array of key k, which was
// decoded with n elements. It falls back to the line of the key when the
// scan counted another number of elements.
func (t *posTable) elem(k string, i, n int) int {
	if t == nil {
		return 0
	}
	if lines := t.elems[k]; len(lines) == n && i >= 0 && i < n {
		return lines[i]
	}
	return t.keys[k]
}

// children returns where each of the n tables of key k is (an array of
// tables, [[k]] or k = [{...}]), or nil when the scan did not find exactly
// n of them.
func (t *posTable) children(k string, n int) []*posTable {
	if t == nil || len(t.tables[k]) != n {
		return nil
	}
	return t.tables[k]
}

// pick returns ts[i], or nil when it has no element i.
func pick(ts []*posTable, i int) *posTable {
	if i < 0 || i >= len(ts) {
		return nil
	}
	return ts[i]
}

// scanPositions returns where the tables and keys of a TOML document are.
// On text it does not understand it stops and returns what it found so
// far; it never fails otherwise.
func scanPositions(text string) *posTable {
	sc := &scanner{s: strings.TrimPrefix(text, "\ufeff"), line: 1}
	root := newPosTable(0)
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
func (sc *scanner) header(root *posTable) *posTable {
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
		return newPosTable(line) // somewhere we cannot name: record into a table nobody looks at
	}
	t := root
	for j, p := range parts {
		if _, ok := t.keys[p]; !ok {
			t.keys[p] = line
		}
		if j == len(parts)-1 && array {
			nt := newPosTable(line)
			t.tables[p] = append(t.tables[p], nt)
			t = nt
			continue
		}
		t = t.child(p, line)
	}
	return t
}

// child returns the last table under key k, making it if there is none.
func (t *posTable) child(k string, line int) *posTable {
	if ts := t.tables[k]; len(ts) > 0 {
		return ts[len(ts)-1]
	}
	nt := newPosTable(line)
	t.tables[k] = []*posTable{nt}
	return nt
}

// keyValue reads key = value into t.
func (sc *scanner) keyValue(t *posTable) bool {
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
		t = newPosTable(line)
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
func (sc *scanner) value(t *posTable, k string) bool {
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
		nt := newPosTable(sc.line)
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
func (sc *scanner) array(t *posTable, k string) bool {
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
			nt := newPosTable(sc.line)
			t.tables[k] = append(t.tables[k], nt)
			if !sc.inline(nt) {
				return false
			}
		} else if !sc.value(newPosTable(sc.line), "") { // nested: not recorded
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
func (sc *scanner) inline(t *posTable) bool {
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
