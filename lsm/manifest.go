package lsm

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"amaters-server/lsm/internal/record"
)

// File names. Part of the on-disk layout; never change.
//
//	CURRENT          name of the live manifest, one line
//	MANIFEST-NNNNNN  log of version edits
//	NNNNNN.log       write-ahead log (in Options.WALDir)
//	NNNNNN.sst       SSTable
//	*.tmp            being written; deleted at open
//	LOCK             held while the DB is open
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

// recoveredState is what the manifest says.
type recoveredState struct {
	manifestNum uint64
	v           *version
	logNum      uint64
	nextFileNum uint64
	lastSeq     uint64
	tornTail    *record.CorruptError // non-nil if a torn last edit was dropped
}

// readManifest replays the manifest named by CURRENT.
func readManifest(fs FS, dir string) (*recoveredState, error) {
	cur, err := readFile(fs, filepath.Join(dir, currentName))
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(string(cur), "\n")
	typ, num := parseName(name)
	if typ != typeManifest || !strings.HasSuffix(string(cur), "\n") {
		return nil, &CorruptionError{File: filepath.Join(dir, currentName), Offset: 0,
			Err: fmt.Errorf("CURRENT does not name a manifest: %q", cur)}
	}
	path := filepath.Join(dir, name)
	data, err := readFile(fs, path)
	if err != nil {
		return nil, fmt.Errorf("read manifest named by CURRENT: %w", err)
	}
	st := &recoveredState{manifestNum: num, v: &version{}}
	r := record.NewReader(data)
	edits := 0
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var ce *record.CorruptError
		if errors.As(err, &ce) {
			if !ce.Truncated || edits == 0 {
				return nil, &CorruptionError{File: path, Offset: ce.Offset, Err: err}
			}
			// A torn last edit: its flush or compaction never completed,
			// so nothing depends on it.
			st.tornTail = ce
			break
		}
		if err != nil {
			return nil, err
		}
		e, err := decodeEdit(rec)
		if err != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(), Err: err}
		}
		if st.v, err = st.v.apply(e); err != nil {
			return nil, &CorruptionError{File: path, Offset: r.RecordOffset(), Err: err}
		}
		if e.hasLogNum {
			st.logNum = e.logNum
		}
		if e.hasNextFileNum {
			st.nextFileNum = e.nextFileNum
		}
		if e.hasLastSeq {
			st.lastSeq = e.lastSeq
		}
		edits++
	}
	for _, files := range st.v.levels {
		for _, f := range files {
			st.nextFileNum = max(st.nextFileNum, f.num+1)
		}
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
