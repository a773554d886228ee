package lsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"

	"amaters-server/lsm"
)

// The damage suite (TESTING.md §9; issue 13). A database is built
// against a model, stopped (cleanly, by a process kill, by a power cut),
// and then each of its files (tables, MANIFEST, CURRENT, the live logs,
// the log folder's IDENTITY) is damaged the way disks, file systems and
// operators do: bits flipped, cut, zeroed, deleted, swapped, replaced by
// a sibling; and a second database is pointed at its log folder. Every
// damaged copy is checked (Check must find what Open refuses or a read
// trips on), then opened and read back, key by key and by a full scan.
//
// Only three outcomes pass:
//
//   - refused: Open fails with an error that names the damaged file;
//   - read error: Open succeeds, every key read is right, and the reads
//     that meet the damage fail with ErrCorruption (data blocks are
//     checked as they are read, not at Open);
//   - intact: every acknowledged write is there with its value, and
//     nothing else.
//
// With SyncNone and SyncInterval the writes since the last sync are not
// durable (a power cut may take them), so after a power cut, or after
// damage to the live log's unsynced part that a power cut could have
// left, and only then, they may be lost: what survives must be every
// write up to the last sync and a prefix of the rest ("prefix").
//
// Anything else (an acknowledged key missing, a wrong or resurrected
// value) is a silent loss and fails the test.

// dop is one acknowledged write of a damage scenario.
type dop struct {
	key, value string
	delete     bool
}

// damageScenario is a stopped database to damage copies of.
type damageScenario struct {
	name    string
	sync    lsm.SyncMode
	stop    string // "clean", "kill" or "power cut"
	walDir  bool   // logs in a folder of their own
	onDisk  bool   // on the OS file system (the mapped log on Linux)
	ops     []dop  // acknowledged writes, in order
	durable int    // ops[:durable] are durable by the sync mode's contract
	want    map[string]string
	// template is the stopped database: a memFS, or folders on disk.
	mem         *lsm.CrashFS
	dir, wal    string
	oldManifest []byte // the manifest as it was half-way through
}

func (sc *damageScenario) opts(fs lsm.FS, dir, wal string) lsm.Options {
	o := lsm.WithKnobs(lsm.Options{MemtableSize: 16 << 10, Sync: sc.sync, FS: fs}, 2, 8<<10, 32<<10, true)
	if sc.sync == lsm.SyncInterval {
		// The kill falls between two syncs: no background sync runs
		// while the folder is copied.
		o.SyncInterval = 1 << 40
	}
	if sc.walDir {
		o.WALDir = wal
	}
	return o
}

// build writes the scenario's history and stops the database.
func (sc *damageScenario) build(t *testing.T) {
	var fs lsm.FS
	dir, wal := "/db", "/wal"
	if sc.onDisk {
		dir, wal = t.TempDir(), t.TempDir()
	} else {
		sc.mem = lsm.NewCrashFS()
		fs = sc.mem
	}
	if !sc.walDir {
		wal = dir
	}
	db, err := lsm.Open(dir, sc.opts(fs, dir, wal))
	if err != nil {
		t.Fatal(err)
	}
	sc.want = map[string]string{}
	apply := func(ops []dop) {
		b := new(lsm.Batch)
		for _, o := range ops {
			if o.delete {
				b.Delete([]byte(o.key))
			} else {
				b.Put([]byte(o.key), []byte(o.value))
			}
		}
		if err := db.Apply(b); err != nil {
			t.Fatal(err)
		}
		for _, o := range ops {
			if o.delete {
				delete(sc.want, o.key)
			} else {
				sc.want[o.key] = o.value
			}
			sc.ops = append(sc.ops, o)
		}
	}
	val := func(i int) string { return fmt.Sprintf("v%d-%s", i, strings.Repeat("x", i*13%150)) }
	// Tables on two levels: batches, flushes, a compaction.
	for round := range 4 {
		for i := range 30 {
			var ops []dop
			for j := range 10 {
				n := round*300 + i*10 + j
				ops = append(ops, dop{key: fmt.Sprintf("key%04d", n*7%900), value: val(n)})
			}
			if i%7 == 3 {
				ops = append(ops, dop{key: fmt.Sprintf("key%04d", (round*300+i)*11%900), delete: true})
			}
			apply(ops)
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			if err := db.CompactAll(); err != nil {
				t.Fatal(err)
			}
			sc.oldManifest = readManifestOf(t, fs, dir)
		}
	}
	sc.durable = len(sc.ops)
	// The live log: single writes, each acknowledged alone.
	for i := range 120 {
		n := 5000 + i
		if i%9 == 4 {
			apply([]dop{{key: fmt.Sprintf("key%04d", i*5%900), delete: true}})
		} else {
			apply([]dop{{key: fmt.Sprintf("key%04d", i*37%1200), value: val(n)}})
		}
	}
	if sc.sync == lsm.SyncAlways {
		sc.durable = len(sc.ops)
	}
	switch sc.stop {
	case "clean":
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		sc.durable = len(sc.ops)
		if !sc.onDisk {
			sc.mem = sc.mem.Clone()
		}
	case "kill":
		if sc.onDisk {
			d, w := t.TempDir(), t.TempDir()
			copyDir(t, dir, d)
			if sc.walDir {
				copyDir(t, wal, w)
			}
			dir, wal = d, w
		} else {
			sc.mem = sc.mem.Clone()
		}
		db.Close()
	case "power cut":
		sc.mem = sc.mem.CrashClone(100, 7)
		db.Close()
	}
	if !sc.walDir {
		wal = dir
	}
	sc.dir, sc.wal = dir, wal
}

func readManifestOf(t *testing.T, fs lsm.FS, dir string) []byte {
	t.Helper()
	st := store{fs: fs}
	cur := strings.TrimSpace(string(st.read(t, filepath.Join(dir, "CURRENT"))))
	return st.read(t, filepath.Join(dir, cur))
}

// store reads and writes files of a damaged copy: on the OS, or on a
// memFS.
type store struct{ fs lsm.FS }

func (s store) read(t *testing.T, path string) []byte {
	t.Helper()
	if s.fs == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f, err := s.fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func (s store) write(t *testing.T, path string, b []byte) {
	t.Helper()
	if s.fs == nil {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := s.fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Sync()
	f.Close()
}

func (s store) remove(t *testing.T, path string) {
	t.Helper()
	var err error
	if s.fs == nil {
		err = os.Remove(path)
	} else {
		err = s.fs.Remove(path)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (s store) list(t *testing.T, dir string) []string {
	t.Helper()
	if s.fs == nil {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names
	}
	names, err := s.fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// copyOf returns a fresh copy of the stopped database.
func (sc *damageScenario) copyOf(t *testing.T) (store, string, string) {
	if !sc.onDisk {
		return store{fs: sc.mem.Clone()}, sc.dir, sc.wal
	}
	dir := t.TempDir()
	copyDir(t, sc.dir, dir)
	wal := dir
	if sc.walDir {
		wal = t.TempDir()
		copyDir(t, sc.wal, wal)
	}
	return store{}, dir, wal
}

// target is a file to damage.
type target struct {
	kind string // table, MANIFEST, CURRENT, log, IDENTITY
	name string
	in   string // "dir" or "wal"
}

// damage is one way to damage a file: it returns the new contents, or
// nil to delete the file. sibling is another file of the same kind (a
// table's neighbour), or nil.
type damage struct {
	name  string
	kinds []string // the file kinds it applies to; nil: all
	apply func(b, sibling, old []byte) []byte
	swap  bool // the sibling gets the file's contents
}

// dataEnd is where a file's data ends: a mapped log's reservation has a
// zero tail.
func dataEnd(b []byte) int {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

func flipAt(b []byte, at int) []byte {
	c := slices.Clone(b)
	if len(c) > 0 {
		c[max(0, min(at, len(c)-1))] ^= 0x04
	}
	return c
}

func zeroRange(b []byte, from, to int) []byte {
	c := slices.Clone(b)
	clear(c[max(0, from):min(len(c), to)])
	return c
}

var damages = []damage{
	{name: "none (baseline)", kinds: []string{"CURRENT"}, apply: func(b, _, _ []byte) []byte { return b }},
	{name: "flip first byte", apply: func(b, _, _ []byte) []byte { return flipAt(b, 0) }},
	{name: "flip at a third", apply: func(b, _, _ []byte) []byte { return flipAt(b, dataEnd(b)/3) }},
	{name: "flip in the middle", apply: func(b, _, _ []byte) []byte { return flipAt(b, dataEnd(b)/2) }},
	{name: "flip 100 before the end", apply: func(b, _, _ []byte) []byte { return flipAt(b, dataEnd(b)-100) }},
	{name: "flip last byte", apply: func(b, _, _ []byte) []byte { return flipAt(b, dataEnd(b)-1) }},
	{name: "cut by 1 byte", apply: func(b, _, _ []byte) []byte { return b[:max(0, len(b)-1)] }},
	{name: "cut to half", apply: func(b, _, _ []byte) []byte { return b[:len(b)/2] }},
	{name: "cut to zero", apply: func(b, _, _ []byte) []byte { return []byte{} }},
	{name: "zeroed from the middle", apply: func(b, _, _ []byte) []byte { return zeroRange(b, dataEnd(b)/2, len(b)) }},
	{name: "zeroed middle range", apply: func(b, _, _ []byte) []byte {
		e := dataEnd(b)
		return zeroRange(b, e/3, e/3+max(e/10, 64))
	}},
	{name: "deleted", apply: func(_, _, _ []byte) []byte { return nil }},
	{name: "replaced by a sibling", kinds: []string{"table"}, apply: func(_, s, _ []byte) []byte { return s }},
	{name: "swapped with a sibling", kinds: []string{"table"}, apply: func(_, s, _ []byte) []byte { return s }, swap: true},
	{name: "replaced by an older copy", kinds: []string{"MANIFEST"}, apply: func(_, _, old []byte) []byte { return old }},
	{name: "names another manifest", kinds: []string{"CURRENT"}, apply: func(_, _, _ []byte) []byte { return []byte("MANIFEST-000001\n") }},
}

// damageRow is one line of the suite's table.
type damageRow struct {
	scenario, file, damage, outcome, detail string
}

func TestDamage(t *testing.T) {
	scenarios := []*damageScenario{
		{name: "always/kill", sync: lsm.SyncAlways, stop: "kill"},
		{name: "always/power-cut", sync: lsm.SyncAlways, stop: "power cut"},
		{name: "always/clean", sync: lsm.SyncAlways, stop: "clean"},
		{name: "always/kill/wal-dir", sync: lsm.SyncAlways, stop: "kill", walDir: true},
		{name: "none/kill/disk", sync: lsm.SyncNone, stop: "kill", onDisk: true},
		{name: "none/clean", sync: lsm.SyncNone, stop: "clean"},
		{name: "none/power-cut", sync: lsm.SyncNone, stop: "power cut"},
		{name: "interval/kill/disk", sync: lsm.SyncInterval, stop: "kill", onDisk: true},
	}
	if testing.Short() {
		scenarios = []*damageScenario{scenarios[0], scenarios[4]}
	}
	var mu sync.Mutex
	var rows []damageRow
	t.Run("cases", func(t *testing.T) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				sc.build(t)
				for _, tg := range sc.targets(t) {
					for _, dm := range damages {
						if dm.kinds != nil && !slices.Contains(dm.kinds, tg.kind) {
							continue
						}
						t.Run(tg.name+"/"+dm.name, func(t *testing.T) {
							t.Parallel()
							row := sc.run(t, tg, dm)
							mu.Lock()
							rows = append(rows, row)
							mu.Unlock()
						})
					}
				}
				if sc.walDir {
					t.Run("second database on the log folder", func(t *testing.T) {
						row := sc.secondDatabase(t)
						mu.Lock()
						rows = append(rows, row)
						mu.Unlock()
					})
				}
			})
		}
	})
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		return a.scenario+a.file+a.damage < b.scenario+b.file+b.damage
	})
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tfile\tdamage\toutcome\tdetail")
	counts := map[string]int{}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.scenario, r.file, r.damage, r.outcome, r.detail)
		counts[r.outcome]++
	}
	w.Flush()
	t.Logf("damage suite: %d cases %v\n%s", len(rows), counts, buf.String())
}

// targets lists the files of the stopped database to damage: the first,
// middle and last table, the manifest, CURRENT, every log, IDENTITY.
func (sc *damageScenario) targets(t *testing.T) []target {
	st := store{}
	if !sc.onDisk {
		st.fs = sc.mem
	}
	var tables []string
	var out []target
	for _, n := range st.list(t, sc.dir) {
		switch {
		case strings.HasSuffix(n, ".sst"):
			tables = append(tables, n)
		case strings.HasPrefix(n, "MANIFEST-"):
			out = append(out, target{kind: "MANIFEST", name: n, in: "dir"})
		case n == "CURRENT":
			out = append(out, target{kind: "CURRENT", name: n, in: "dir"})
		case strings.HasSuffix(n, ".log") && !sc.walDir:
			out = append(out, target{kind: "log", name: n, in: "dir"})
		}
	}
	if sc.walDir {
		for _, n := range st.list(t, sc.wal) {
			switch {
			case strings.HasSuffix(n, ".log"):
				out = append(out, target{kind: "log", name: n, in: "wal"})
			case n == "IDENTITY":
				out = append(out, target{kind: "IDENTITY", name: n, in: "wal"})
			}
		}
	}
	slices.Sort(tables)
	if len(tables) < 3 {
		t.Fatalf("want tables to damage, have %v", tables)
	}
	for _, i := range []int{0, len(tables) / 2, len(tables) - 1} {
		out = append(out, target{kind: "table", name: tables[i], in: "dir"})
	}
	return out
}

// run damages a copy, checks it, opens it and judges the outcome.
func (sc *damageScenario) run(t *testing.T, tg target, dm damage) damageRow {
	row := damageRow{scenario: sc.name, file: tg.name, damage: dm.name}
	st, dir, wal := sc.copyOf(t)
	folder := dir
	if tg.in == "wal" {
		folder = wal
	}
	path := filepath.Join(folder, tg.name)
	orig := st.read(t, path)
	var sibling []byte
	var siblingPath string
	if tg.kind == "table" {
		tables := slices.DeleteFunc(st.list(t, dir), func(n string) bool { return !strings.HasSuffix(n, ".sst") || n == tg.name })
		siblingPath = filepath.Join(dir, tables[0])
		sibling = st.read(t, siblingPath)
	}
	damaged := dm.apply(orig, sibling, sc.oldManifest)
	names := []string{tg.name}
	if dm.swap {
		st.write(t, siblingPath, orig)
		names = append(names, filepath.Base(siblingPath))
	}
	switch {
	case damaged == nil:
		st.remove(t, path)
	case bytes.Equal(damaged, orig) && dm.name != damages[0].name:
		row.outcome, row.detail = "no change", "the damage left the file as it was"
		return row
	case bytes.Equal(damaged, orig):
		row.file = "-"
	default:
		st.write(t, path, damaged)
	}

	// Check first: it must not change anything, and must find damage
	// wherever Open refuses or a read fails.
	report, checkErr := lsm.Check(dir, lsm.CheckOptions{FS: st.fs, WALDir: sc.walDirOf(wal)})

	opts := sc.opts(st.fs, dir, wal)
	db, err := lsm.Open(dir, opts)
	if err != nil {
		row.outcome, row.detail = "refused", firstLine(err)
		if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(err.Error(), n) }) {
			t.Errorf("refusal does not name %s: %v", tg.name, err)
		}
		sc.wantCheckDamage(t, report, checkErr, names)
		return row
	}
	defer db.Close()
	missing, wrong, readErr := judge(db, sc.want)
	switch {
	case len(missing) == 0 && len(wrong) == 0 && readErr == nil:
		row.outcome = "intact"
		if checkErr == nil && report.Damaged() {
			row.detail = "Check: " + report.Findings[0].Message
		}
	case len(missing) == 0 && len(wrong) == 0:
		row.outcome, row.detail = "read error", firstLine(readErr)
		if !errors.Is(readErr, lsm.ErrCorruption) {
			t.Errorf("read error %v is not ErrCorruption", readErr)
		}
		sc.wantCheckDamage(t, report, checkErr, names)
	case (tg.kind == "log" && sc.sync != lsm.SyncAlways && sc.stop == "kill" || sc.stop == "power cut") && sc.prefix(db):
		row.outcome = "prefix"
		row.detail = fmt.Sprintf("%d unsynced writes lost, as a power cut may", len(missing)+len(wrong))
	default:
		row.outcome = "SILENT LOSS"
		row.detail = fmt.Sprintf("%d missing (%v), %d wrong (%v)", len(missing), head(missing), len(wrong), head(wrong))
		t.Errorf("silent loss: %s", row.detail)
	}
	return row
}

func (sc *damageScenario) walDirOf(wal string) string {
	if sc.walDir {
		return wal
	}
	return ""
}

// wantCheckDamage fails unless Check reported damage in one of files.
func (sc *damageScenario) wantCheckDamage(t *testing.T, r *lsm.CheckReport, err error, files []string) {
	t.Helper()
	if err != nil {
		t.Errorf("Check: %v", err)
		return
	}
	for _, f := range r.Findings {
		if f.Damage && slices.ContainsFunc(files, func(n string) bool {
			return filepath.Base(f.File) == n || strings.Contains(f.Message, n)
		}) {
			return
		}
	}
	t.Errorf("Check did not find the damage in %v: %+v", files, r.Findings)
}

// judge reads every key of want and scans everything.
func judge(db *lsm.DB, want map[string]string) (missing, wrong []string, readErr error) {
	for k, v := range want {
		got, err := db.Get([]byte(k))
		switch {
		case errors.Is(err, lsm.ErrNotFound):
			missing = append(missing, k)
		case err != nil:
			readErr = err
		case string(got) != v:
			wrong = append(wrong, k)
		}
	}
	it := db.NewIterator(nil, nil)
	for it.Next() {
		if v, ok := want[string(it.Key())]; !ok || v != string(it.Value()) {
			wrong = append(wrong, string(it.Key()))
		}
	}
	if err := it.Close(); err != nil {
		readErr = err
	}
	slices.Sort(missing)
	slices.Sort(wrong)
	return missing, slices.Compact(wrong), readErr
}

// prefix reports whether db holds exactly the writes ops[:p] for some p
// at or after the durable ones: the unsynced writes a power cut may take
// are a suffix.
func (sc *damageScenario) prefix(db *lsm.DB) bool {
	got := map[string]string{}
	it := db.NewIterator(nil, nil)
	for it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if it.Close() != nil {
		return false
	}
	m := map[string]string{}
	for p, o := range sc.ops {
		if p >= sc.durable && maps.Equal(m, got) {
			return true
		}
		if o.delete {
			delete(m, o.key)
		} else {
			m[o.key] = o.value
		}
	}
	return maps.Equal(m, got)
}

// secondDatabase points a new database at the stopped one's log folder:
// it must be refused, and the first must open with everything.
func (sc *damageScenario) secondDatabase(t *testing.T) damageRow {
	row := damageRow{scenario: sc.name, file: "log folder", damage: "second database opened on it"}
	st, dir, wal := sc.copyOf(t)
	otherDir := "/other"
	if sc.onDisk {
		otherDir = t.TempDir()
	}
	other, err := lsm.Open(otherDir, sc.opts(st.fs, otherDir, wal))
	if err == nil {
		other.Close()
		row.outcome = "SILENT LOSS"
		t.Errorf("a second database opened on the log folder")
	} else {
		row.outcome, row.detail = "refused", firstLine(err)
	}
	db, err := lsm.Open(dir, sc.opts(st.fs, dir, wal))
	if err != nil {
		t.Fatalf("the first database after the attempt: %v", err)
	}
	defer db.Close()
	if missing, wrong, readErr := judge(db, sc.want); len(missing)+len(wrong) > 0 || readErr != nil {
		t.Errorf("the first database lost writes: %d missing, %d wrong, %v", len(missing), len(wrong), readErr)
	}
	return row
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 150 {
		s = s[:150] + "..."
	}
	return s
}

func head(s []string) []string { return s[:min(3, len(s))] }
