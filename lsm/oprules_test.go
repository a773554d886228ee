package lsm

import (
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"amaters-server/lsm/internal/record"
)

// The op-log rule checker (TESTING.md §2.10). A process kill leaves the
// page cache, so kill tests cannot see a missing fsync, and a crash clone
// sees one only if a cut happens to fall in the gap. Instead, this test
// records every file system operation of a workload (memFS's trace, with a
// "mark" at each acknowledged write) and checks the durability protocol on
// the whole trace, operation by operation:
//
//   - ack: when a write is acknowledged (SyncAlways), every log file is
//     synced to its end and its directory entry is durable;
//   - tables first: when a manifest sync makes an edit durable, every table
//     the edit adds is synced to its end and its entry is durable;
//   - CURRENT: a rename onto CURRENT replaces it with a synced file that
//     names a manifest which is synced and whose entry is durable;
//   - deletes last: a table is removed only after a durable edit dropped it,
//     a log only after a durable edit moved the log number past it (or,
//     created ahead of a switch that never used it, empty and unlisted),
//     and an old manifest only when the CURRENT that replaced it is
//     durable;
//   - only the newest log may end torn: every other log is synced to its
//     end before a newer log gets its first record;
//   - what the manifest records is true when it becomes durable: a table's
//     size and whole-file CRC-32C are those of its synced bytes, a log's
//     synced size is synced (a final one is the whole log), and a log is
//     listed before anything is written to it.
//
// The rules are checked against what a power cut would keep at that point
// in the trace (memFS's model: synced bytes; directory entries as of the
// last directory sync), not against what the code meant to do.

// opState is what the checker knows of one file.
type opState struct {
	path    string
	written int  // bytes written
	synced  int  // bytes synced
	durable bool // the entry under path survives a power cut
}

// opChecker replays a trace.
type opChecker struct {
	// syncedAcks: the workload wrote with SyncAlways, so the ack rule
	// applies.
	syncedAcks bool
	files      map[*memNode]*opState
	byPath     map[string]*memNode
	dir        string
	walDir     string
	tables     map[uint64]bool // tables in the durable version of the live manifest
	logs       map[uint64]bool // live logs the durable manifest lists
	logNum     uint64          // logs below it are in tables, durably
	decoded    map[*memNode]int
	acks       int
	removed    map[fileType]int // removes checked, by type
	errs       []string
}

func newOpChecker(dir string) *opChecker {
	return &opChecker{files: map[*memNode]*opState{}, byPath: map[string]*memNode{}, dir: dir,
		tables: map[uint64]bool{}, logs: map[uint64]bool{}, decoded: map[*memNode]int{}, removed: map[fileType]int{}}
}

func (c *opChecker) failf(i int, op fsOp, format string, args ...any) {
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf("op %d (%s %s): %s", i, op.kind, op.path, fmt.Sprintf(format, args...)))
	}
}

// at returns the state of the file under path, or nil.
func (c *opChecker) at(path string) *opState {
	if n := c.byPath[path]; n != nil {
		return c.files[n]
	}
	return nil
}

func (c *opChecker) run(ops []fsOp) {
	for i, op := range ops {
		switch op.kind {
		case "create":
			if old := c.byPath[op.path]; old != nil {
				delete(c.files, old)
			}
			c.files[op.node] = &opState{path: op.path}
			c.byPath[op.path] = op.node
		case "write":
			if st := c.files[op.node]; st != nil {
				first := st.written == 0
				st.written = op.size
				typ, num := parseName(filepath.Base(st.path))
				if typ == typeWAL && !c.logs[num] {
					c.failf(i, op, "log %d written before the durable manifest lists it", num)
				}
				if typ == typeWAL && first {
					// Only the newest log may end torn: every other is
					// synced to its end before a newer one gets its
					// first record (a log may be created ahead, empty).
					for _, o := range c.files {
						if t, _ := parseName(filepath.Base(o.path)); t == typeWAL && o != st && o.synced != o.written {
							c.failf(i, op, "a new log written while %s has %d of %d bytes synced", o.path, o.synced, o.written)
						}
					}
				}
			}
		case "truncate":
			if st := c.files[op.node]; st != nil {
				st.written, st.synced = op.size, min(st.synced, op.size)
			}
		case "sync":
			st := c.files[op.node]
			if st == nil {
				continue
			}
			st.synced = op.size
			if typ, _ := parseName(filepath.Base(st.path)); typ == typeManifest && filepath.Dir(st.path) == c.dir {
				c.manifestSynced(i, op, st)
			}
		case "dirsync":
			for _, st := range c.files {
				if filepath.Dir(st.path) == op.path {
					st.durable = true
				}
			}
		case "rename":
			src := c.files[op.node]
			if src == nil {
				continue
			}
			if filepath.Base(op.to) == currentName {
				c.checkCurrent(i, op, src)
			}
			if old := c.byPath[op.to]; old != nil && old != op.node {
				delete(c.files, old)
			}
			delete(c.byPath, op.path)
			src.path, src.durable = op.to, false
			c.byPath[op.to] = op.node
		case "remove":
			c.checkRemove(i, op)
			delete(c.files, op.node)
			delete(c.byPath, op.path)
		case "mark":
			c.acks++
			if !c.syncedAcks {
				continue
			}
			for _, st := range c.files {
				// A log created ahead of the switch that will use it
				// holds nothing to acknowledge yet.
				if typ, num := parseName(filepath.Base(st.path)); typ == typeWAL && (st.written > 0 || c.logs[num]) {
					if st.synced != st.written {
						c.failf(i, op, "acknowledged while %s has %d of %d bytes synced", st.path, st.synced, st.written)
					}
					if !st.durable {
						c.failf(i, op, "acknowledged while the entry of %s is not durable", st.path)
					}
				}
			}
		}
	}
}

// manifestSynced applies the edits a manifest sync made durable, checking
// the tables they add.
func (c *opChecker) manifestSynced(i int, op fsOp, st *opState) {
	data := op.node.data[:st.synced]
	from := c.decoded[op.node]
	if from == 0 {
		// A new manifest starts the version over (its first edit is a
		// snapshot of the whole version and of the live logs).
		clear(c.tables)
		clear(c.logs)
	}
	r := record.NewReader(data)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.failf(i, op, "the synced manifest does not decode: %v", err)
			return
		}
		if r.RecordOffset() < int64(from) {
			continue
		}
		e, err := decodeEdit(rec)
		if err != nil {
			c.failf(i, op, "edit: %v", err)
			return
		}
		for _, a := range e.added {
			t := c.at(filepath.Join(c.dir, tableName(a.meta.num)))
			switch {
			case t == nil:
				c.failf(i, op, "the edit adds table %d, which is not there", a.meta.num)
			case t.synced != t.written || t.written == 0:
				c.failf(i, op, "the edit adds table %d with %d of %d bytes synced", a.meta.num, t.synced, t.written)
			case !t.durable:
				c.failf(i, op, "the edit adds table %d, whose entry is not durable", a.meta.num)
			case uint64(t.synced) != a.meta.size:
				c.failf(i, op, "the edit records table %d at %d bytes; it has %d", a.meta.num, a.meta.size, t.synced)
			case !a.meta.hasCRC:
				c.failf(i, op, "the edit records table %d without its checksum", a.meta.num)
			case crc32.Checksum(c.byPath[t.path].data[:t.synced], crc32.MakeTable(crc32.Castagnoli)) != a.meta.crc:
				c.failf(i, op, "the edit records a checksum of table %d that is not its contents'", a.meta.num)
			}
			c.tables[a.meta.num] = true
		}
		for _, d := range e.deleted {
			delete(c.tables, d.num)
		}
		if e.hasLogNum {
			c.logNum = e.logNum
			for num := range c.logs {
				if num < e.logNum {
					delete(c.logs, num)
				}
			}
		}
		for _, l := range e.addedLogs {
			c.logs[l.num] = true
		}
		for _, l := range e.syncedLogs {
			lg := c.at(filepath.Join(c.walDir, walName(l.num)))
			switch {
			case lg == nil:
				c.failf(i, op, "the edit records log %d synced, which is not there", l.num)
			case uint64(lg.synced) < l.size:
				c.failf(i, op, "the edit records log %d synced to %d bytes; %d are", l.num, l.size, lg.synced)
			case l.final && uint64(lg.written) != l.size:
				c.failf(i, op, "the edit records log %d complete at %d bytes; it has %d", l.num, l.size, lg.written)
			}
		}
	}
	c.decoded[op.node] = len(data)
}

// checkCurrent checks a rename onto CURRENT.
func (c *opChecker) checkCurrent(i int, op fsOp, src *opState) {
	if src.synced != src.written || src.written == 0 {
		c.failf(i, op, "CURRENT replaced by a file with %d of %d bytes synced", src.synced, src.written)
	}
	name := strings.TrimSuffix(string(op.node.data[:src.written]), "\n")
	m := c.at(filepath.Join(filepath.Dir(op.to), name))
	switch {
	case m == nil:
		c.failf(i, op, "CURRENT would name %q, which is not there", name)
	case m.synced != m.written:
		c.failf(i, op, "CURRENT would name %s with %d of %d bytes synced", name, m.synced, m.written)
	case !m.durable:
		c.failf(i, op, "CURRENT would name %s, whose entry is not durable", name)
	}
}

// checkRemove checks a remove against the durable version.
func (c *opChecker) checkRemove(i int, op fsOp) {
	typ, num := parseName(filepath.Base(op.path))
	if filepath.Dir(op.path) != c.dir && typ != typeWAL { // logs may be in a folder of their own
		return
	}
	c.removed[typ]++
	switch typ {
	case typeTable:
		if c.tables[num] {
			c.failf(i, op, "table %d removed while the durable manifest still lists it", num)
		}
	case typeWAL:
		// A log created ahead of a memtable switch that never came is
		// removed unused: empty, and not listed in the manifest.
		st := c.files[op.node]
		unused := st != nil && st.written == 0 && !c.logs[num]
		if num >= c.logNum && !unused {
			c.failf(i, op, "log %d removed while the durable log number is %d", num, c.logNum)
		}
	case typeManifest:
		if cur := c.at(filepath.Join(c.dir, currentName)); cur == nil || !cur.durable {
			c.failf(i, op, "manifest removed before the CURRENT that replaced it is durable")
		}
	}
}

// TestOpLogRules runs a workload with flushes, compactions and reopens on
// a tracing memFS and checks the trace.
func TestOpLogRules(t *testing.T) {
	t.Run("logs beside tables", func(t *testing.T) { testOpLogRules(t, "", SyncAlways) })
	t.Run("logs in a folder of their own", func(t *testing.T) { testOpLogRules(t, "/wal", SyncAlways) })
	t.Run("SyncNone", func(t *testing.T) { testOpLogRules(t, "", SyncNone) })
}

func testOpLogRules(t *testing.T, walDir string, sync SyncMode) {
	fs := newMemFS()
	fs.SetTrace(true)
	opts := Options{MemtableSize: 8 << 10, FS: fs, Sync: sync, WALDir: walDir,
		l0CompactionTrigger: 2, targetFileSize: 4 << 10, baseLevelSize: 16 << 10}
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var flushes, compactions uint64 // of the instances closed so far
	closeDB := func() error {
		m := db.Metrics()
		flushes, compactions = flushes+m.Flushes, compactions+m.Compactions
		return db.Close()
	}
	ack := func() {
		fs.mu.Lock()
		fs.record(fsOp{kind: "mark", path: "ack"})
		fs.mu.Unlock()
	}
	for i := range 4000 {
		key := []byte("key" + strconv.Itoa(rng.IntN(500)))
		switch n := rng.IntN(100); {
		case n < 60:
			err = db.Put(key, make([]byte, rng.IntN(200)))
		case n < 75:
			err = db.Delete(key)
		case n < 95:
			b := new(Batch)
			for range 1 + rng.IntN(8) {
				b.Put([]byte("key"+strconv.Itoa(rng.IntN(500))), make([]byte, rng.IntN(100)))
			}
			err = db.Apply(b)
		case n < 99:
			err = db.Flush()
		case rng.IntN(3) == 0:
			if err = closeDB(); err == nil {
				db, err = Open("/db", opts)
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		ack()
	}
	if err := closeDB(); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	ops := fs.ops
	fs.mu.Unlock()
	c := newOpChecker("/db")
	c.walDir = cmp.Or(walDir, "/db")
	c.syncedAcks = sync == SyncAlways
	c.run(ops)
	t.Logf("%d ops, %d acks, %d flushes, %d compactions", len(ops), c.acks, flushes, compactions)
	if flushes < 50 || compactions < 20 {
		t.Errorf("the workload should flush and compact often: %d flushes, %d compactions", flushes, compactions)
	}
	if c.removed[typeWAL] == 0 || c.removed[typeTable] == 0 || c.removed[typeManifest] == 0 {
		t.Errorf("the workload should remove logs, tables and manifests: %v", c.removed)
	}
	for _, e := range c.errs {
		t.Error(e)
	}
}
