package lsm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

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

// newDBID returns a new database identity.
func newDBID() []byte {
	id := make([]byte, 16)
	rand.Read(id) // never fails (crypto/rand)
	return id
}

// recover loads the manifest, proves that the files it names are there
// and intact (verify.go), replays the logs it does not cover into new
// level-0 tables, starts a new log and a new manifest, and then removes
// what is provably obsolete and moves aside what only looks orphaned.
// Nothing is changed before every check passed, and every step before the
// new manifest's CURRENT switch only adds files, so a crash during
// recovery leaves the old state intact.
func (d *DB) recover() (err error) {
	st, err := readManifest(d.fs, d.dir)
	fresh := errors.Is(err, errNoCurrent)
	switch {
	case fresh:
		st = &recoveredState{format: manifestFormat, dbID: newDBID(), v: &version{}, nextFileNum: 1, deleted: map[uint64]bool{}}
	case err != nil:
		return err
	}
	if st.tornTail != nil {
		// Reported when the checks below have passed: only then is the
		// torn edit known to be harmless.
		defer func() {
			if err == nil {
				d.log.Warn("lsm: dropped the torn last edit of the manifest: a crash while it was written; every file the manifest names without it is intact",
					"file", st.manifestPath, "offset", st.tornTail.Offset)
			}
		}()
	}
	id := st.dbID
	if st.format == 1 {
		if id, err = upgradeID(d.fs, st); err != nil {
			return err
		}
	}
	dirNames, err := d.fs.List(d.dir)
	if err != nil {
		return fmt.Errorf("list dir: %w", err)
	}
	walNames, err := d.fs.List(d.walDir)
	if err != nil {
		return fmt.Errorf("list wal dir: %w", err)
	}

	// Prove, before changing anything. Without CURRENT: the data of the
	// database folder first (a lost CURRENT), then whose the log folder
	// is (a new database pointed at another's), then its logs.
	if fresh {
		if err := checkNoData(d.fs, d.dir, d.dir); err != nil {
			return err
		}
	}
	identityOK, writeID := true, false
	if d.walDir != d.dir {
		if identityOK, writeID, err = checkWALDir(d.fs, d.walDir, walNames, st, fresh, id); err != nil {
			return err
		}
	}
	if fresh {
		if err := checkNoData(d.fs, d.dir, d.walDir); err != nil {
			return err
		}
	}
	var plans []logPlan
	var problems []error
	if !fresh {
		plans, problems = planLogs(d.fs, d.walDir, st, walNames, identityOK)
	}
	d.current = st.v
	d.pinFiles(st.v)
	for _, files := range st.v.levels {
		for _, f := range files {
			if err := d.checkTable(f); err != nil {
				problems = append(problems, err)
			}
		}
	}
	if len(problems) > 0 {
		return errors.Join(withManifest(st, problems)...)
	}
	next := st.nextFileNum
	for _, n := range append(slices.Clone(dirNames), walNames...) {
		_, num := parseName(n)
		next = max(next, num+1)
	}
	d.nextFileNum.Store(next)

	// A database of release 0.2 with a log folder of its own gets its
	// IDENTITY before the manifest that names it (the identity is derived
	// from the old manifest, so a retry derives the same); a new database
	// gets it after (its folder holds no log of its own yet).
	if writeID && st.format == 1 {
		if err := writeIdentity(d.fs, d.walDir, id); err != nil {
			return err
		}
	}

	r := &recovery{d: d, lastSeq: st.lastSeq}
	for _, p := range plans {
		if err := r.replayWAL(p); err != nil {
			return err
		}
	}
	if err := r.flush(); err != nil {
		return err
	}

	walNum := d.nextFileNum.Add(1) - 1
	f, added, err := d.createLog(walNum)
	if err != nil {
		return err
	}
	d.wal = &walWriter{num: walNum, f: f, w: record.NewWriter(f, 0)}
	nv, err := st.v.apply(&versionEdit{added: r.added})
	if err != nil {
		return fmt.Errorf("apply recovered tables: %w", err)
	}
	d.dbID = id
	d.logs = []liveLog{{num: walNum, mapped: added.mapped, reserved: int64(added.reserved)}}
	manifestNum := d.nextFileNum.Add(1) - 1
	first := d.firstEdit(nv, d.logs)
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
	d.walCheckpointAt.Store(firstCheckpoint)

	if writeID && st.format != 1 {
		if err := writeIdentity(d.fs, d.walDir, id); err != nil {
			return err
		}
	}
	if fresh {
		// Manifests a first Open that failed left hold nothing
		// (checkNoData found no data): obsolete.
		st.manifestNum = manifestNum
	}
	return d.cleanUp(st, nv, manifestNum, walNum, dirNames, walNames)
}

// checkTable verifies what Open verifies of a table the manifest lists:
// it exists with the recorded size, its footer, index and meta blocks
// pass their checksums (opening it in the table cache reads them), and
// its first and last keys are the recorded bounds. Data blocks are
// checked when read, and by the scrubber and Check.
func (d *DB) checkTable(f *fileMeta) error {
	path := filepath.Join(d.dir, tableName(f.num))
	var size int64
	st, err := d.fs.Stat(path)
	if err == nil {
		size = st.Size()
	}
	if err := checkTableSize(path, f, size, err); err != nil {
		return err
	}
	t, err := d.tc.get(f.num)
	if err != nil {
		return err
	}
	defer t.unref()
	first, last, err := t.r.Bounds()
	if err != nil {
		return corruptionFrom(path, err)
	}
	return checkTableBounds(path, f, first, last)
}

// createLog creates log num, empty and durable, appending through a
// mapping where the sync mode wants one; a mapped log's reservation is
// synced too, so that the manifest may count on its size. It returns the
// log and the record the manifest gets for it.
func (d *DB) createLog(num uint64) (File, logAdded, error) {
	path := filepath.Join(d.walDir, walName(num))
	f, err := d.fs.Create(path)
	if err != nil {
		return nil, logAdded{}, fmt.Errorf("create log: %w", err)
	}
	f = d.mapLog(f)
	la := logAdded{num: num}
	if n, ok := mappedSize(f); ok {
		la.mapped, la.reserved = true, uint64(n)
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, logAdded{}, fmt.Errorf("sync log %s: %w", path, err)
		}
	}
	if err := syncDir(d.fs, d.walDir); err != nil {
		f.Close()
		return nil, logAdded{}, err
	}
	return f, la, nil
}

// firstEdit returns the first edit of a new manifest: the format, the
// identity, every table of v and the live logs.
func (d *DB) firstEdit(v *version, logs []liveLog) *versionEdit {
	e := v.snapshotEdit()
	e.format, e.dbID = manifestFormat, d.dbID
	for _, l := range logs {
		e.addedLogs = append(e.addedLogs, logAdded{num: l.num, mapped: l.mapped, reserved: uint64(l.reserved)})
		if l.synced > 0 || l.final {
			e.syncedLogs = append(e.syncedLogs, logSynced{num: l.num, size: uint64(l.synced), final: l.final})
		}
	}
	return e
}

// cleanUp runs once the new manifest is installed. It deletes what is
// provably obsolete: temporary files, manifests older than the new one,
// logs below the new log number (replayed into tables, or obsolete
// already), tables an edit of the old manifest deleted, and tables
// numbered at or above the old manifest's last next file number (written
// by a flush or compaction whose edit never made it). Other tables the
// manifest does not list, and manifests newer than the one CURRENT named,
// only look orphaned: they are moved to lost+found, logged and counted.
func (d *DB) cleanUp(st *recoveredState, nv *version, manifestNum, walNum uint64, dirNames, walNames []string) error {
	live := map[uint64]bool{}
	for _, files := range nv.levels {
		for _, f := range files {
			live[f.num] = true
		}
	}
	for _, n := range dirNames {
		path := filepath.Join(d.dir, n)
		switch t, num := parseName(n); {
		case t == typeTemp:
			d.removeFile(path)
		case t == typeManifest && num != manifestNum && num <= st.manifestNum:
			d.removeFile(path)
		case t == typeTable && !live[num] && (st.deleted[num] || num >= st.editNextFileNum):
			d.removeFile(path)
		case t == typeManifest && num != manifestNum, t == typeTable && !live[num]:
			if err := d.moveToLostFound(n); err != nil {
				return err
			}
		}
	}
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL && num < walNum {
			d.removeFile(filepath.Join(d.walDir, n))
		}
	}
	names, err := d.fs.List(filepath.Join(d.dir, lostFoundName))
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("list %s: %w", lostFoundName, err)
	}
	d.lostFound.Store(int64(len(names)))
	return nil
}

// moveToLostFound moves a file of the database folder into lost+found,
// under a name not taken there.
func (d *DB) moveToLostFound(name string) error {
	lf := filepath.Join(d.dir, lostFoundName)
	if err := d.fs.MkdirAll(lf, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", lf, err)
	}
	dst := filepath.Join(lf, name)
	for i := 1; ; i++ {
		if _, err := d.fs.Stat(dst); isNotExist(err) {
			break
		}
		dst = filepath.Join(lf, name+"."+strconv.Itoa(i))
	}
	src := filepath.Join(d.dir, name)
	if err := d.fs.Rename(src, dst); err != nil {
		return fmt.Errorf("move %s to %s: %w", src, lf, err)
	}
	if err := syncDir(d.fs, lf); err != nil {
		return err
	}
	if err := syncDir(d.fs, d.dir); err != nil {
		return err
	}
	d.stats.movedToLostFound.Add(1)
	d.log.Warn("lsm: moved a file the manifest does not list to lost+found; it is not needed to serve the database, inspect and remove it",
		"file", src, "to", dst)
	return nil
}
