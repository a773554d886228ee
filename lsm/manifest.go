package lsm

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"amaters-server/lsm/internal/record"
)

// File names. Part of the on-disk layout; never change.
//
//	CURRENT          name of the live manifest, one line
//	MANIFEST-NNNNNN  log of version edits (tags in version.go)
//	NNNNNN.log       write-ahead log (in Options.WALDir)
//	NNNNNN.sst       SSTable
//	*.tmp            being written; deleted at open
//	LOCK             held while the DB is open; holds the holder's pid
//	                 (in the database folder, and in a log folder of
//	                 its own)
//	IDENTITY         in a log folder of its own: the hex identity of the
//	                 database whose logs it holds (verify.go)
//	lost+found/      files Open found orphaned but not provably
//	                 obsolete (recover.go)
const (
	currentName = "CURRENT"
	lockName    = "LOCK"
)

func manifestName(num uint64) string { return fmt.Sprintf("MANIFEST-%06d", num) }
func walName(num uint64) string      { return fmt.Sprintf("%06d.log", num) }
func tableName(num uint64) string    { return fmt.Sprintf("%06d.sst", num) }

type fileType int

const (
	typeUnknown fileType = iota
	typeManifest
	typeWAL
	typeTable
	typeTemp
)

// parseName classifies a file name of the DB directory.
func parseName(name string) (fileType, uint64) {
	switch {
	case strings.HasSuffix(name, ".tmp"):
		return typeTemp, 0
	case strings.HasPrefix(name, "MANIFEST-"):
		if n, err := strconv.ParseUint(name[len("MANIFEST-"):], 10, 64); err == nil {
			return typeManifest, n
		}
	case strings.HasSuffix(name, ".log"):
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 10, 64); err == nil {
			return typeWAL, n
		}
	case strings.HasSuffix(name, ".sst"):
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64); err == nil {
			return typeTable, n
		}
	}
	return typeUnknown, 0
}

// readFile reads a whole file.
func readFile(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// syncDir makes the entries of dir durable.
func syncDir(fs FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}

// liveLog is what a format-2 manifest knows of a log that is not
// obsolete: it was added before anything was written to it, and its
// synced size is recorded at memtable switches (final), at Close
// (final), with every flush and compaction edit, and every
// logCheckpointBytes of SyncAlways or SyncInterval log.
type liveLog struct {
	num      uint64
	mapped   bool
	reserved int64 // mapped logs: the file is at least this long until final
	synced   int64 // bytes of whole records known synced
	final    bool  // complete at synced bytes
}

// applyLogs returns logs (sorted by number) with the log part of e
// applied: the log number first (dropping what it makes obsolete), then
// added logs, then synced sizes. logs is not modified.
func applyLogs(logs []liveLog, e *versionEdit) ([]liveLog, error) {
	out := slices.Clone(logs)
	if e.hasLogNum {
		out = slices.DeleteFunc(out, func(l liveLog) bool { return l.num < e.logNum })
	}
	for _, a := range e.addedLogs {
		if e.hasLogNum && a.num < e.logNum {
			return nil, fmt.Errorf("%w: log %d added below log number %d", errBadEdit, a.num, e.logNum)
		}
		i, found := slices.BinarySearchFunc(out, a.num, func(l liveLog, n uint64) int { return cmpUint(l.num, n) })
		if found {
			return nil, fmt.Errorf("%w: log %d added twice", errBadEdit, a.num)
		}
		out = slices.Insert(out, i, liveLog{num: a.num, mapped: a.mapped, reserved: int64(a.reserved)})
	}
	for _, sy := range e.syncedLogs {
		i, found := slices.BinarySearchFunc(out, sy.num, func(l liveLog, n uint64) int { return cmpUint(l.num, n) })
		switch {
		case !found:
			return nil, fmt.Errorf("%w: synced size of log %d, which is not live", errBadEdit, sy.num)
		case out[i].final:
			return nil, fmt.Errorf("%w: synced size of log %d after its final size", errBadEdit, sy.num)
		case int64(sy.size) < out[i].synced:
			return nil, fmt.Errorf("%w: synced size of log %d goes back from %d to %d", errBadEdit, sy.num, out[i].synced, sy.size)
		}
		out[i].synced, out[i].final = int64(sy.size), sy.final
	}
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// recoveredState is what the manifest says.
type recoveredState struct {
	manifestNum  uint64
	manifestPath string
	format       int    // 1 (release 0.2) or 2
	dbID         []byte // format 2
	v            *version
	logNum       uint64
	nextFileNum  uint64
	lastSeq      uint64
	logs         []liveLog // format 2: the live logs, by number
	// deleted holds the tables an edit of this manifest removed from the
	// version: provably obsolete.
	deleted map[uint64]bool
	// editNextFileNum is the largest next file number an edit recorded:
	// a file numbered at or above it was made after the last edit that
	// counts, so no edit that counts names it.
	editNextFileNum uint64
	edits           int
	// checkpoint is set for a format-1 manifest made by Checkpoint (one
	// edit, naming a log number just above the manifest's own that no log
	// ever had).
	checkpoint bool
	tornTail   *record.CorruptError // non-nil if a torn last edit was dropped
}

// errNoCurrent is returned by readManifest when the folder has no
// CURRENT file: a new database, or one whose CURRENT is lost.
var errNoCurrent = errors.New("no CURRENT file")

// readManifest replays the manifest named by CURRENT.
func readManifest(fs FS, dir string) (*recoveredState, error) {
	curPath := filepath.Join(dir, currentName)
	cur, err := readFile(fs, curPath)
	if isNotExist(err) {
		return nil, errNoCurrent
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", curPath, err)
	}
	name := strings.TrimSuffix(string(cur), "\n")
	typ, num := parseName(name)
	if typ != typeManifest || !strings.HasSuffix(string(cur), "\n") || name != manifestName(num) {
		return nil, &CorruptionError{File: curPath, Offset: 0,
			Err: fmt.Errorf("CURRENT does not name a manifest: %q", cur)}
	}
	path := filepath.Join(dir, name)
	data, err := readFile(fs, path)
	if isNotExist(err) {
		return nil, &CorruptionError{File: path, Offset: -1,
			Err: fmt.Errorf("the manifest %s names is missing", curPath)}
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	st := &recoveredState{manifestNum: num, manifestPath: path, format: 1, v: &version{}, deleted: map[uint64]bool{}}
	r := record.NewReader(data)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var ce *record.CorruptError
		if errors.As(err, &ce) {
			if !crashTorn(data, ce) || st.edits == 0 {
				if ce.Truncated && st.edits > 0 {
					err = fmt.Errorf("the last edit is cut off at %d bytes, not at a page boundary as a crash leaves it, or by zeroes: the manifest was cut: %w", len(data), err)
				}
				return nil, &CorruptionError{File: path, Offset: ce.Offset, Err: err}
			}
			// A torn last edit: its flush or compaction never completed,
			// so nothing depends on it, provided that what it would have
			// made obsolete is still there. Recovery checks every file
			// the state without it names (verify.go), so a torn edit
			// whose log or tables were deleted is refused there.
			st.tornTail = ce
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", path, err)
		}
		e, err := decodeEdit(rec)
		if err != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(), Err: err}
		}
		if st.edits == 0 && e.format != 0 {
			if e.format != manifestFormat {
				return nil, fmt.Errorf("%w: %s has format version %d; this release reads versions 1 and %d: use the release that wrote it, or a newer one",
					ErrFormat, path, e.format, manifestFormat)
			}
			st.format, st.dbID = int(e.format), e.dbID
		} else if e.format != 0 || e.dbID != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(),
				Err: fmt.Errorf("%w: format or identity outside the first edit", errBadEdit)}
		}
		if st.format == 1 && (len(e.addedLogs) > 0 || len(e.syncedLogs) > 0) {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(),
				Err: fmt.Errorf("%w: log records in a format-1 manifest", errBadEdit)}
		}
		if st.v, err = st.v.apply(e); err != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(), Err: err}
		}
		if st.logs, err = applyLogs(st.logs, e); err != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(), Err: err}
		}
		for _, d := range e.deleted {
			st.deleted[d.num] = true
		}
		for _, a := range e.added {
			delete(st.deleted, a.meta.num) // a trivial move deletes and adds
		}
		if e.hasLogNum {
			st.logNum = e.logNum
		}
		if e.hasNextFileNum {
			st.nextFileNum = e.nextFileNum
			st.editNextFileNum = max(st.editNextFileNum, e.nextFileNum)
		}
		if e.hasLastSeq {
			st.lastSeq = e.lastSeq
		}
		st.edits++
	}
	if st.edits == 0 {
		return nil, &CorruptionError{File: path, Offset: 0, Err: errors.New("the manifest holds no edit")}
	}
	st.checkpoint = st.format == 1 && st.edits == 1 && st.tornTail == nil && st.logNum == num+1
	for _, files := range st.v.levels {
		for _, f := range files {
			st.nextFileNum = max(st.nextFileNum, f.num+1)
		}
	}
	for _, l := range st.logs {
		st.nextFileNum = max(st.nextFileNum, l.num+1)
	}
	st.nextFileNum = max(st.nextFileNum, st.logNum+1, num+1)
	return st, nil
}

// manifestWriter appends edits to the live manifest.
type manifestWriter struct {
	num  uint64
	f    File
	w    *record.Writer
	size int64
}

// createManifest writes a new manifest holding first, syncs it and its
// directory entry, and points CURRENT at it (temp file, sync, rename,
// directory sync). The manifest's entry is made durable before CURRENT
// names it: a file system may keep the rename and lose the create.
func createManifest(fs FS, dir string, num uint64, first *versionEdit) (*manifestWriter, error) {
	path := filepath.Join(dir, manifestName(num))
	f, err := fs.Create(path)
	if err != nil {
		return nil, err
	}
	m := &manifestWriter{num: num, f: f, w: record.NewWriter(f, 0)}
	if err := m.append(first); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(fs, dir); err != nil {
		f.Close()
		return nil, err
	}
	if err := setCurrent(fs, dir, num); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// append writes and syncs one edit. A write that fails for lack of space
// is cut off again and returned as a *takenBackError: the manifest is then
// as it was, and the edit may be retried.
func (m *manifestWriter) append(e *versionEdit) error {
	m.w.WriteRecord(e.encode())
	if err := m.w.Flush(); err != nil {
		err = fmt.Errorf("write manifest: %w", err)
		if !isNoSpace(err) {
			return err
		}
		if terr := m.f.Truncate(m.size); terr != nil {
			return fmt.Errorf("%w; taking the partial write back failed: %w", err, terr)
		}
		m.w = record.NewWriter(m.f, m.size)
		return &takenBackError{err}
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("sync manifest: %w", err)
	}
	m.size = m.w.Offset()
	return nil
}

func (m *manifestWriter) close() error { return m.f.Close() }

// errCurrentRenamed marks a setCurrent failure after the rename: CURRENT
// may name the new manifest, which must therefore be kept.
var errCurrentRenamed = errors.New("CURRENT replaced but not synced")

// setCurrent atomically points CURRENT at manifest num.
func setCurrent(fs FS, dir string, num uint64) error {
	tmp := filepath.Join(dir, currentName+"."+strconv.FormatUint(num, 10)+".tmp")
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, manifestName(num)+"\n"); err != nil {
		f.Close()
		fs.Remove(tmp)
		return fmt.Errorf("write CURRENT: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fs.Remove(tmp)
		return fmt.Errorf("sync CURRENT: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, filepath.Join(dir, currentName)); err != nil {
		fs.Remove(tmp)
		return err
	}
	if err := syncDir(fs, dir); err != nil {
		return fmt.Errorf("%w: %w", errCurrentRenamed, err)
	}
	return nil
}
