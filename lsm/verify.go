package lsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"amaters-server/lsm/internal/record"
	"amaters-server/lsm/internal/sstable"
)

// What recovery proves before it changes anything (see doc.go, "What Open
// verifies"). Open and Check share these checks: Open refuses on the
// problems they return, Check lists them. Every problem is a
// *CorruptionError naming its file.
//
//   - The manifest replays; only its last edit may be torn (cut off by
//     the end of the file), and then only if everything the state without
//     it names is still there, which the checks below prove: a torn edit
//     whose flush deleted a log, or whose compaction deleted tables,
//     leaves a state that names the deleted files.
//   - Every table the manifest lists exists, has the recorded size, its
//     footer, index and meta blocks pass their checksums, and its first
//     and last keys are the recorded bounds (tables are identified by
//     their bounds: internal keys carry unique sequence numbers).
//   - Format 2: every live log the manifest lists exists, is not shorter
//     than its known synced size (or, mapped, than the space reserved and
//     synced at its creation), and is intact up to it; a finished log is
//     intact to its final size with nothing but zeroes after. No other
//     log in the log folder holds records, unless it is below the log
//     number in a folder whose IDENTITY is this database's. Format 1
//     (release 0.2) has no log list: the log the log number names must
//     exist (except in a checkpoint's manifest), and every log from it on
//     is replayed.
//   - The newest log may end torn only as a crash leaves it: a log
//     appended with write(2) ends part-way through a record, at a page
//     boundary (crashTorn), never in zeroes; a mapped log ends in a partly
//     copied piece, with nothing but zeroes from one piece after the
//     damaged chunk on (tornEnd). The manifest, appended with write(2),
//     may end torn the same way.
//   - A separate log folder is this database's: locked, holding no
//     manifest, and its IDENTITY file, if any, matches the manifest's.

// crcTable is the CRC-32C (Castagnoli) table of whole-file table
// checksums. Read-only.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// identityName is the file of a separate log folder that names the
// database its logs belong to. Part of the on-disk layout.
const identityName = "IDENTITY"

// lostFoundName is the folder, in the database folder, that Open moves
// files to when they look orphaned but are not provably obsolete. Part
// of the on-disk layout.
const lostFoundName = "lost+found"

// corruptf returns a *CorruptionError for path at off (-1: the whole
// file).
func corruptf(path string, off int64, format string, args ...any) *CorruptionError {
	return &CorruptionError{File: path, Offset: off, Err: fmt.Errorf(format, args...)}
}

// checkTableFile checks a table file's size against the manifest.
func checkTableSize(path string, f *fileMeta, size int64, err error) error {
	if isNotExist(err) {
		return corruptf(path, -1, "table listed in the manifest is missing")
	}
	if err != nil {
		return fmt.Errorf("stat table: %w", err)
	}
	if size != int64(f.size) {
		return corruptf(path, -1, "table is %d bytes, the manifest recorded %d: it was cut, extended or replaced", size, f.size)
	}
	return nil
}

// checkTableBounds compares a table's first and last keys with the
// bounds the manifest recorded.
func checkTableBounds(path string, f *fileMeta, first, last []byte) error {
	if first == nil || !bytes.Equal(first, f.smallest) || !bytes.Equal(last, f.largest) {
		return corruptf(path, -1, "table holds keys %s to %s, the manifest recorded %s to %s: it is another table",
			fmtKey(first), fmtKey(last), fmtKey(f.smallest), fmtKey(f.largest))
	}
	return nil
}

// tableBounds reads a table's first and last keys.
func tableBounds(path string, r io.ReaderAt, size int64) (first, last []byte, err error) {
	rd, err := sstable.NewReader(r, size, sstable.ReaderOptions{Compare: compareInternal, FilterKey: filterKey})
	if err == nil {
		first, last, err = rd.Bounds()
	}
	if err != nil {
		return nil, nil, corruptionFrom(path, err)
	}
	return first, last, nil
}

// fmtKey formats an internal key for a message.
func fmtKey(ik []byte) string {
	if len(ik) < trailerLen {
		return fmt.Sprintf("%q", ik)
	}
	t := trailerOf(ik)
	return fmt.Sprintf("%q#%d", userKey(ik), t>>8)
}

// logPlan is one log recovery replays.
type logPlan struct {
	num  uint64
	path string
	// live is what the manifest knows of it (format 2), nil in format 1.
	live *liveLog
	// newest: the only log whose tail may be torn.
	newest bool
}

// withManifest adds, after the problems found with the files a manifest
// names, one that names the manifest: the files may be damaged, or the
// manifest may not be the one that describes them (an older copy, a torn
// edit that had taken effect). It comes last, so that errors.As finds a
// damaged file first.
func withManifest(st *recoveredState, problems []error) []error {
	last := corruptf(st.manifestPath, -1, "the database this manifest describes has missing or damaged files (listed above): restore the database from a backup")
	if st.tornTail != nil {
		last = corruptf(st.manifestPath, st.tornTail.Offset,
			"the last edit is torn, and files the manifest names without it are missing or damaged (listed above): it was cut after the edit had taken effect; restore the database from a backup")
	}
	return append(problems, last)
}

// planLogs decides which logs of the log folder recovery replays, and
// returns the problems that forbid recovery: live logs missing, logs
// with records the manifest does not know.
func planLogs(fs FS, walDir string, st *recoveredState, walNames []string, identityOK bool) ([]logPlan, []error) {
	var plans []logPlan
	var errs []error
	onDisk := map[uint64]string{}
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL {
			onDisk[num] = filepath.Join(walDir, n)
		}
	}
	if st.format >= 2 {
		for i := range st.logs {
			l := &st.logs[i]
			path := filepath.Join(walDir, walName(l.num))
			if _, ok := onDisk[l.num]; !ok {
				errs = append(errs, corruptf(path, -1, "live log listed in the manifest is missing"))
				continue
			}
			plans = append(plans, logPlan{num: l.num, path: path, live: l})
		}
		for _, num := range sortedKeys(onDisk) {
			if slices.ContainsFunc(st.logs, func(l liveLog) bool { return l.num == num }) ||
				(num < st.logNum && identityOK) {
				continue
			}
			empty, err := logIsEmpty(fs, onDisk[num])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !empty {
				errs = append(errs, corruptf(onDisk[num], -1,
					"log holds records but the manifest does not list it: it belongs to another database, or the manifest lost its record"))
			}
		}
		if n := len(plans); n > 0 {
			plans[n-1].newest = true
		}
		return plans, errs
	}

	// Format 1: every log from the log number on.
	if st.logNum > 0 && !st.checkpoint {
		if _, ok := onDisk[st.logNum]; !ok {
			errs = append(errs, corruptf(filepath.Join(walDir, walName(st.logNum)), -1,
				"the log the manifest's log number names is missing"))
		}
	}
	for _, num := range sortedKeys(onDisk) {
		if num >= st.logNum {
			plans = append(plans, logPlan{num: num, path: onDisk[num]})
		}
	}
	// Only the newest log holding records may end torn. Logs after it
	// that hold none are what a recovery that failed or was killed before
	// its manifest switch leaves (it creates its new log first), and do
	// not make the torn tail before them damage.
	newest := len(plans) - 1
	for newest > 0 {
		empty, err := logIsEmpty(fs, plans[newest].path)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if !empty {
			break
		}
		newest--
	}
	if newest >= 0 {
		plans[newest].newest = true
	}
	return plans, errs
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// logIsEmpty reports whether the log at path holds no byte but zeroes (a
// log created and never written, possibly preallocated). It reads only up
// to the first byte that is not zero.
func logIsEmpty(fs FS, path string) (bool, error) {
	f, err := fs.Open(path)
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
			return false, fmt.Errorf("read log %s: %w", path, err)
		}
		off += int64(n)
	}
}

// crashGranule is where a crash can cut a file appended with write(2):
// at a multiple of the page size, 4 KiB (or of a larger page, which is
// a multiple of it). A killed process's write(2) stops at a page (folio)
// boundary, and file systems write a file's data and size back page by
// page (ext4's ordered mode, XFS, btrfs), so after a crash an appended
// file ends where one of its writes ended, or at a page boundary. A file
// that ends part-way through a record anywhere else was cut by something
// other than a crash.
const crashGranule = 4096

// crashTorn reports whether a file appended with write(2) whose records
// end with damage ce could have been torn so by a crash: it ends
// part-way through a record (not in zeroes), at a page boundary.
func crashTorn(data []byte, ce *record.CorruptError) bool {
	return ce.Truncated && !ce.ZeroHeader && len(data)%crashGranule == 0
}

// looksMapped reports whether a log of a format-1 manifest, which does not
// say how its logs were written, is a mapped log as a crash leaves it:
// the size of its reservation (a multiple of mapChunk) and at least a
// block of zeroes at the end. A log appended with write(2) has neither.
func looksMapped(data []byte) bool {
	return len(data) > 0 && len(data)%mapChunk == 0 && int64(len(data))-record.ZeroTail(data) >= record.BlockSize
}

// tornEnd reports whether damage at chunk off of a mapped log is what a
// process killed while copying a commit group into the mapping leaves: a
// partly copied piece, then zeroes to the end of the file. The copy goes
// in pieces of mapCopyPiece bytes, in order, and a piece's bytes in any
// order; so the first byte not copied lies in the damaged chunk (its
// header or payload), the rest of that piece may or may not be copied,
// and everything after the piece is zero. Damage with data more than a
// piece after the damaged chunk's end is damage, not a torn copy: intact
// records follow it.
func tornEnd(data []byte, off int64) bool {
	return record.ZeroTail(data) <= record.ChunkEnd(data, off)+mapCopyPiece
}

// scanLog reads the records of one log, calling fn with each (fn may be
// nil), and applies the rules of what may be cut: it returns the offset of
// a torn tail to cut (-1 if the log ends cleanly), or the damage that
// forbids recovery.
func scanLog(p logPlan, data []byte, fn func(rec []byte, off int64) error) (int64, error) {
	path := p.path
	mapped := looksMapped(data)
	var synced int64
	newest := p.newest
	if l := p.live; l != nil {
		mapped, synced = l.mapped, l.synced
		switch {
		case l.final && int64(len(data)) < l.synced:
			return -1, corruptf(path, -1, "log is %d bytes, the manifest recorded it complete at %d: it was cut", len(data), l.synced)
		case l.final:
			if z := record.ZeroTail(data); z > l.synced {
				return -1, corruptf(path, l.synced, "log holds data after the end the manifest recorded (%d bytes)", l.synced)
			}
			data, newest = data[:l.synced], false
		case int64(len(data)) < l.synced:
			return -1, corruptf(path, -1, "log is %d bytes, %d were known synced: it was cut", len(data), l.synced)
		case l.mapped && int64(len(data)) < l.reserved:
			return -1, corruptf(path, -1, "mapped log is %d bytes, shorter than the %d reserved and synced at its creation: it was cut", len(data), l.reserved)
		}
	}
	rd := record.NewReader(data)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return -1, nil
		}
		var ce *record.CorruptError
		if !errors.As(err, &ce) {
			if err != nil {
				return -1, fmt.Errorf("read log %s: %w", path, err)
			}
			if fn != nil {
				if err := fn(rec, rd.RecordOffset()); err != nil {
					return -1, err
				}
			}
			continue
		}
		off := ce.Offset
		switch {
		case off < synced:
			return -1, &CorruptionError{File: path, Offset: off, Err: fmt.Errorf("damage in the part of the log known synced (%d bytes): %w", synced, err)}
		case ce.Zeroed && mapped:
			return -1, nil // the unused end of the reservation
		case !newest:
			return -1, &CorruptionError{File: path, Offset: off, Err: fmt.Errorf("damage in a log that is not the newest, which a crash never leaves: %w", err)}
		case mapped && tornEnd(data, off):
			return off, nil
		case mapped:
			return -1, &CorruptionError{File: path, Offset: off, Err: fmt.Errorf("damage followed by intact data (a torn copy is followed only by zeroes): %w", err)}
		case ce.ZeroHeader:
			return -1, &CorruptionError{File: path, Offset: off, Err: fmt.Errorf("zeroes where a record should start, in a log written with write(2), which a crash never leaves: %w", err)}
		case crashTorn(data, ce):
			return off, nil
		case ce.Truncated:
			return -1, &CorruptionError{File: path, Offset: off, Err: fmt.Errorf("the log ends part-way through a record at %d bytes, not at a page boundary as a crash leaves it: it was cut: %w", len(data), err)}
		default:
			return -1, &CorruptionError{File: path, Offset: off, Err: err}
		}
	}
}

// checkNoData refuses to create a database over the files of one whose
// CURRENT is gone: starting empty would silently lose them.
func checkNoData(fs FS, dir, walDir string) error {
	dirNames, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("list dir: %w", err)
	}
	var manifests, tables []string
	for _, n := range dirNames {
		switch t, _ := parseName(n); t {
		case typeManifest:
			manifests = append(manifests, n)
		case typeTable:
			tables = append(tables, n)
		}
	}
	// A manifest without CURRENT and without data is what a first Open
	// that failed before it wrote CURRENT leaves: nothing to lose.
	cur := filepath.Join(dir, currentName)
	if len(tables) > 0 && len(manifests) > 0 {
		return corruptf(cur, -1, "CURRENT is missing, but the folder holds %s and %d tables: restore CURRENT (one line naming the newest manifest) from a backup", strings.Join(manifests, ", "), len(tables))
	}
	if len(tables) > 0 {
		return corruptf(cur, -1, "CURRENT and the manifest are missing, but the folder holds %d tables (%s...): restore the database from a backup", len(tables), tables[0])
	}
	for _, d := range uniqueDirs(dir, walDir) {
		names, err := fs.List(d)
		if err != nil {
			return fmt.Errorf("list dir: %w", err)
		}
		for _, n := range names {
			if t, _ := parseName(n); t != typeWAL {
				continue
			}
			path := filepath.Join(d, n)
			// An empty log is what a failed first Open leaves.
			empty, err := logIsEmpty(fs, path)
			if err != nil {
				return err
			}
			if !empty && len(manifests) > 0 {
				return corruptf(cur, -1, "CURRENT is missing, but the folder holds %s and log %s holds records: restore CURRENT (one line naming the newest manifest) from a backup", strings.Join(manifests, ", "), path)
			}
			if !empty {
				return corruptf(path, -1, "log holds records but there is no CURRENT or manifest in %s: restore the database from a backup, or, if the log belongs to another database, give this one its own log folder", dir)
			}
		}
	}
	return nil
}

func uniqueDirs(dir, walDir string) []string {
	if filepath.Clean(dir) == filepath.Clean(walDir) {
		return []string{dir}
	}
	return []string{dir, walDir}
}

// checkWALDir checks a log folder that is not the database folder:
// it holds no database of its own, and its IDENTITY, if any, names this
// database. It returns whether the folder's logs below the log number are
// provably this database's (its IDENTITY matches), and whether IDENTITY
// must be written.
func checkWALDir(fs FS, walDir string, walNames []string, st *recoveredState, fresh bool, id []byte) (identityOK, write bool, err error) {
	for _, n := range walNames {
		if t, _ := parseName(n); t == typeManifest || n == currentName {
			return false, false, corruptf(filepath.Join(walDir, n), -1,
				"the log folder %s holds a database of its own: two databases never share a folder", walDir)
		}
	}
	have, err := readIdentity(fs, walDir)
	if err != nil {
		return false, false, err
	}
	path := filepath.Join(walDir, identityName)
	switch {
	case have == nil:
		return false, true, nil
	case fresh:
		return false, false, corruptf(path, -1,
			"the log folder %s belongs to database %x, and this database is new: give it a log folder of its own", walDir, have)
	case !bytes.Equal(have, id):
		return false, false, corruptf(path, -1,
			"the log folder %s belongs to database %x, not to this one (%x): two databases never share a log folder", walDir, have, id)
	}
	return true, false, nil
}

// readIdentity returns the identity a log folder's IDENTITY records, or
// nil if it has none.
func readIdentity(fs FS, walDir string) ([]byte, error) {
	path := filepath.Join(walDir, identityName)
	b, err := readFile(fs, path)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	id, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(id) == 0 {
		return nil, corruptf(path, 0, "not a database identity: %q", b)
	}
	return id, nil
}

// writeIdentity makes walDir/IDENTITY name id: temp file, sync, rename,
// directory sync.
func writeIdentity(fs FS, walDir string, id []byte) error {
	path := filepath.Join(walDir, identityName)
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, hex.EncodeToString(id)+"\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err != nil {
		fs.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(fs, walDir)
}

// upgradeID is the identity a database written by release 0.2, which has
// none, takes at its first Open: derived from its manifest, so that an
// Open killed after writing IDENTITY and before its new manifest derives
// the same one again.
func upgradeID(fs FS, st *recoveredState) ([]byte, error) {
	b, err := readFile(fs, st.manifestPath)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", st.manifestPath, err)
	}
	sum := sha256.Sum256(b)
	return sum[:16], nil
}
