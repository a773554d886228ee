package lsm

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"amaters-server/lsm/internal/record"
)

// recovery replays logs into memtables at Open.
type recovery struct {
	d       *DB
	mem     *memtable // nil until a log record needs one
	added   []addedFile
	lastSeq uint64
}

func (r *recovery) apply(rec []byte, seq uint64, count uint32) error {
	if r.mem != nil && !r.mem.fits(len(rec), int(count)) {
		if err := r.flush(); err != nil {
			return err
		}
		r.mem = nil
	}
	if r.mem == nil {
		r.mem = newMemtable(r.d.opts.MemtableSize, 0)
		if !r.mem.fits(len(rec), int(count)) {
			// A batch larger than a memtable gets a memtable of its own.
			r.mem = newMemtable(int64(len(rec)+int(count)*(trailerLen+entryOverhead))+4096, 0)
		}
	}
	res := r.mem.reserve(len(rec), int(count))
	r.mem.beginApply(&res)
	if err := r.mem.apply(rec); err != nil {
		return err
	}
	r.mem.endApply(&res)
	r.lastSeq = max(r.lastSeq, seq+uint64(count)-1)
	return nil
}

func (r *recovery) flush() error {
	if r.mem == nil || r.mem.empty() {
		return nil
	}
	meta, err := r.d.writeLevel0(r.mem)
	if err != nil {
		return err
	}
	r.added = append(r.added, addedFile{0, meta})
	r.mem = nil
	return nil
}

// recover loads the manifest, replays the logs it does not cover into new
// level-0 tables, starts a new log and a new manifest, and deletes files
// nothing refers to. Every step before the new manifest's CURRENT switch
// only adds files, so a crash during recovery leaves the old state intact.
func (d *DB) recover() error {
	st, err := readManifest(d.fs, d.dir)
	fresh := false
	if isNotExist(err) {
		if err := d.checkNoData(); err != nil {
			return err
		}
		st = &recoveredState{v: &version{}, nextFileNum: 1}
		fresh = true
	} else if err != nil {
		return err
	}
	if st.tornTail != nil {
		d.log.Warn("lsm: dropped torn last manifest edit", "offset", st.tornTail.Offset)
	}
	dirNames, err := d.fs.List(d.dir)
	if err != nil {
		return fmt.Errorf("list dir: %w", err)
	}
	walNames, err := d.fs.List(d.walDir)
	if err != nil {
		return fmt.Errorf("list wal dir: %w", err)
	}
	next := st.nextFileNum
	var wals []uint64
	for _, n := range append(slices.Clone(dirNames), walNames...) {
		_, num := parseName(n)
		next = max(next, num+1)
	}
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL && num >= st.logNum && !fresh {
			wals = append(wals, num)
		}
	}
	slices.Sort(wals)
	d.nextFileNum.Store(next)
	d.pinFiles(st.v)
	d.current = st.v

	// Tables the manifest names must exist; a missing one is damage.
	for _, files := range st.v.levels {
		for _, f := range files {
			if _, err := d.fs.Stat(filepath.Join(d.dir, tableName(f.num))); err != nil {
				return &CorruptionError{File: filepath.Join(d.dir, tableName(f.num)), Offset: 0,
					Err: fmt.Errorf("table listed in the manifest is missing: %w", err)}
			}
		}
	}

	// Only the newest log holding records may end torn. Logs after it
	// that hold none are what a recovery that failed or was killed before
	// its manifest switch leaves (it creates its new log first), and do
	// not make the torn tail before them damage.
	newest := len(wals) - 1
	for newest > 0 {
		empty, err := d.logIsEmpty(wals[newest])
		if err != nil {
			return err
		}
		if !empty {
			break
		}
		newest--
	}
	r := &recovery{d: d, lastSeq: st.lastSeq}
	for i, num := range wals {
		if err := r.replayWAL(num, i >= newest); err != nil {
			return err
		}
	}
	if err := r.flush(); err != nil {
		return err
	}

	walNum := d.nextFileNum.Add(1) - 1
	f, err := d.fs.Create(filepath.Join(d.walDir, walName(walNum)))
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	f = d.mapLog(f)
	d.wal = &walWriter{num: walNum, f: f, w: record.NewWriter(f, 0)}
	if err := syncDir(d.fs, d.walDir); err != nil {
		return err
	}
	nv, err := st.v.apply(&versionEdit{added: r.added})
	if err != nil {
		return fmt.Errorf("apply recovered tables: %w", err)
	}
	manifestNum := d.nextFileNum.Add(1) - 1
	first := nv.snapshotEdit()
	first.hasLogNum, first.logNum = true, walNum
	first.hasNextFileNum, first.nextFileNum = true, d.nextFileNum.Load()
	first.hasLastSeq, first.lastSeq = true, r.lastSeq
	m, err := createManifest(d.fs, d.dir, manifestNum, first)
	if err != nil {
		return err
	}
	d.manifest = m
	d.logNum = walNum
	d.pinFiles(nv)
	old := d.current
	d.current = nv
	old.unref()
	d.mem = newMemtable(d.opts.MemtableSize, walNum)
	d.lastSeq = r.lastSeq
	d.visibleSeq.Store(r.lastSeq)

	live := map[uint64]bool{}
	for _, files := range nv.levels {
		for _, f := range files {
			live[f.num] = true
		}
	}
	for _, n := range dirNames {
		t, num := parseName(n)
		if (t == typeManifest && num != manifestNum) || t == typeTemp || (t == typeTable && !live[num]) {
			d.removeFile(filepath.Join(d.dir, n))
		}
	}
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL && num < walNum {
			d.removeFile(filepath.Join(d.walDir, n))
		}
	}
	return nil
}

// logIsEmpty reports whether log num holds no byte but zeroes (a log
// created and never written, possibly preallocated). It reads only up to
// the first byte that is not zero.
func (d *DB) logIsEmpty(num uint64) (bool, error) {
	f, err := d.fs.Open(filepath.Join(d.walDir, walName(num)))
	if err != nil {
		return false, fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		if record.ZeroTail(buf[:n]) > 0 {
			return false, nil
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("read log: %w", err)
		}
		off += int64(n)
	}
}

// checkNoData refuses to create a database over the files of one whose
// CURRENT is gone: starting empty would silently lose them.
func (d *DB) checkNoData() error {
	for _, dir := range []string{d.dir, d.walDir} {
		names, err := d.fs.List(dir)
		if err != nil {
			return fmt.Errorf("list dir: %w", err)
		}
		for _, n := range names {
			t, _ := parseName(n)
			if t == typeWAL {
				// An empty log is what a failed first Open leaves.
				if st, err := d.fs.Stat(filepath.Join(dir, n)); err == nil && st.Size() == 0 {
					continue
				}
			}
			if t == typeWAL || t == typeTable {
				return &CorruptionError{File: filepath.Join(d.dir, currentName), Offset: 0,
					Err: errors.New("CURRENT is missing but data files exist; restore CURRENT or move the files away")}
			}
		}
	}
	return nil
}
