package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// numLevels is the number of levels, 0 to 6.
const numLevels = 7

// fileMeta describes one SSTable. Everything but refs and compacting is
// immutable once the file is in a version.
type fileMeta struct {
	num      uint64
	size     uint64
	smallest []byte // internal key
	largest  []byte // internal key
	// crc is the CRC-32C (Castagnoli, unmasked) of the whole file, when
	// hasCRC: known for every table written by release 0.3 on, unknown
	// for tables carried over from a 0.2 manifest.
	crc    uint32
	hasCRC bool
	// refs counts the versions holding this file; at zero the file is
	// obsolete and is deleted.
	refs atomic.Int32
	// compacting is set while a compaction uses this file as an input.
	// Guarded by DB.mu.
	compacting bool
}

func (f *fileMeta) smallestUser() []byte { return userKey(f.smallest) }
func (f *fileMeta) largestUser() []byte  { return userKey(f.largest) }

// overlaps reports whether the file's user-key range meets [lo, hi]
// (both inclusive user keys).
func (f *fileMeta) overlaps(lo, hi []byte) bool {
	return bytes.Compare(f.largestUser(), lo) >= 0 && bytes.Compare(f.smallestUser(), hi) <= 0
}

// version is an immutable set of SSTables per level. Level 0 files may
// overlap and are ordered newest first; files of every other level have
// disjoint user-key ranges and are ordered by key.
//
// Readers (Get, iterators, snapshots' reads) hold a reference so that the
// files they read are not deleted underneath them.
type version struct {
	refs   atomic.Int32
	levels [numLevels][]*fileMeta
	// onZero is called when the last reference goes, with the files whose
	// own count reached zero (set by the DB; nil in tests).
	onZero func(obsolete []*fileMeta)
}

func (v *version) ref() { v.refs.Add(1) }

func (v *version) unref() {
	n := v.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("lsm: version reference count below zero")
	}
	var obsolete []*fileMeta
	for _, files := range v.levels {
		for _, f := range files {
			if f.refs.Add(-1) == 0 {
				obsolete = append(obsolete, f)
			}
		}
	}
	if v.onZero != nil && len(obsolete) > 0 {
		v.onZero(obsolete)
	}
}

func (v *version) levelBytes(level int) uint64 {
	var n uint64
	for _, f := range v.levels[level] {
		n += f.size
	}
	return n
}

// overlapping returns the files of level that meet [lo, hi].
func (v *version) overlapping(level int, lo, hi []byte) []*fileMeta {
	var out []*fileMeta
	for _, f := range v.levels[level] {
		if f.overlaps(lo, hi) {
			out = append(out, f)
		}
	}
	return out
}

// check verifies the ordering invariants; recovery uses it to reject a
// manifest that describes an impossible version.
func (v *version) check() error {
	for level := 1; level < numLevels; level++ {
		files := v.levels[level]
		for i := 1; i < len(files); i++ {
			if bytes.Compare(files[i-1].largestUser(), files[i].smallestUser()) >= 0 {
				return fmt.Errorf("level %d: files %d and %d overlap", level, files[i-1].num, files[i].num)
			}
		}
	}
	return nil
}

// versionEdit is a change to the version, and the record type of the
// manifest.
type versionEdit struct {
	// format is the manifest format version, set in the first edit of a
	// manifest only (0: absent, a format-1 manifest of release 0.2).
	format         uint64
	dbID           []byte // the database's identity, in a first edit
	hasLogNum      bool
	logNum         uint64 // WAL files below this number are obsolete
	hasNextFileNum bool
	nextFileNum    uint64
	hasLastSeq     bool
	lastSeq        uint64
	deleted        []deletedFile
	added          []addedFile
	addedLogs      []logAdded
	syncedLogs     []logSynced
}

// logAdded records a new write-ahead log, before anything is written to
// it.
type logAdded struct {
	num    uint64
	mapped bool // appended through a mapping (maplog_linux.go), not write(2)
	// reserved is, for a mapped log, the size its file was given and
	// synced at creation: a file of the log is never shorter until the
	// log is finished.
	reserved uint64
}

// logSynced records that log num holds at least size bytes of whole
// records that were synced; with final, that it is complete at size.
type logSynced struct {
	num   uint64
	size  uint64
	final bool
}

type deletedFile struct {
	level int
	num   uint64
}

type addedFile struct {
	level int
	meta  *fileMeta
}

// Manifest tags. Part of the on-disk format: never change a tag's meaning
// and never reuse a retired tag. Tags 1 to 5 are format 1 (release 0.2);
// 6 to 10 came with format 2 (release 0.3), whose every manifest begins
// with tagFormat, so that release 0.2 refuses it ("unknown tag 6") rather
// than misreading it.
//
//	tag                fields (uvarints unless noted)
//	1  tagLogNum       log number: logs below it are obsolete
//	2  tagNextFileNum  next file number
//	3  tagLastSeq      last sequence number
//	4  tagDeletedFile  level, file number
//	5  tagNewFile      level, file number, size, smallest key, largest key
//	                   (keys are length-prefixed internal keys)
//	6  tagFormat       format version (2); first tag of a first edit
//	7  tagDBID         length-prefixed identity (16 random bytes)
//	8  tagNewFileCRC   as tagNewFile, then the CRC-32C of the whole file
//	9  tagLogAdded     log number, flags (bit 0: mapped), reserved bytes
//	10 tagLogSynced    log number, size, flags (bit 0: final)
const (
	tagLogNum      = 1
	tagNextFileNum = 2
	tagLastSeq     = 3
	tagDeletedFile = 4
	tagNewFile     = 5
	tagFormat      = 6
	tagDBID        = 7
	tagNewFileCRC  = 8
	tagLogAdded    = 9
	tagLogSynced   = 10
)

// manifestFormat is the format version this release writes. Part of the
// on-disk format.
const manifestFormat = 2

// Flags of tagLogAdded and tagLogSynced. Part of the on-disk format.
const (
	logFlagMapped = 1
	logFlagFinal  = 1
)

// encode returns the edit as a manifest record: a sequence of
// (uvarint tag, fields) pairs; byte strings are uvarint-length-prefixed.
func (e *versionEdit) encode() []byte {
	var b []byte
	if e.format != 0 {
		b = binary.AppendUvarint(b, tagFormat)
		b = binary.AppendUvarint(b, e.format)
	}
	if e.dbID != nil {
		b = binary.AppendUvarint(b, tagDBID)
		b = binary.AppendUvarint(b, uint64(len(e.dbID)))
		b = append(b, e.dbID...)
	}
	if e.hasLogNum {
		b = binary.AppendUvarint(b, tagLogNum)
		b = binary.AppendUvarint(b, e.logNum)
	}
	if e.hasNextFileNum {
		b = binary.AppendUvarint(b, tagNextFileNum)
		b = binary.AppendUvarint(b, e.nextFileNum)
	}
	if e.hasLastSeq {
		b = binary.AppendUvarint(b, tagLastSeq)
		b = binary.AppendUvarint(b, e.lastSeq)
	}
	for _, d := range e.deleted {
		b = binary.AppendUvarint(b, tagDeletedFile)
		b = binary.AppendUvarint(b, uint64(d.level))
		b = binary.AppendUvarint(b, d.num)
	}
	for _, a := range e.added {
		tag := uint64(tagNewFile)
		if a.meta.hasCRC {
			tag = tagNewFileCRC
		}
		b = binary.AppendUvarint(b, tag)
		b = binary.AppendUvarint(b, uint64(a.level))
		b = binary.AppendUvarint(b, a.meta.num)
		b = binary.AppendUvarint(b, a.meta.size)
		b = binary.AppendUvarint(b, uint64(len(a.meta.smallest)))
		b = append(b, a.meta.smallest...)
		b = binary.AppendUvarint(b, uint64(len(a.meta.largest)))
		b = append(b, a.meta.largest...)
		if a.meta.hasCRC {
			b = binary.AppendUvarint(b, uint64(a.meta.crc))
		}
	}
	for _, l := range e.addedLogs {
		var flags uint64
		if l.mapped {
			flags |= logFlagMapped
		}
		b = binary.AppendUvarint(b, tagLogAdded)
		b = binary.AppendUvarint(b, l.num)
		b = binary.AppendUvarint(b, flags)
		b = binary.AppendUvarint(b, l.reserved)
	}
	for _, l := range e.syncedLogs {
		var flags uint64
		if l.final {
			flags |= logFlagFinal
		}
		b = binary.AppendUvarint(b, tagLogSynced)
		b = binary.AppendUvarint(b, l.num)
		b = binary.AppendUvarint(b, l.size)
		b = binary.AppendUvarint(b, flags)
	}
	return b
}

var errBadEdit = errors.New("malformed version edit")

// decodeEdit parses a manifest record.
func decodeEdit(b []byte) (*versionEdit, error) {
	e := &versionEdit{}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	key := func() ([]byte, bool) {
		k, rest, ok := readBytes(b)
		if !ok || len(k) < trailerLen {
			return nil, false
		}
		b = rest
		return slices.Clone(k), true
	}
	bad := func(what string) (*versionEdit, error) { return nil, fmt.Errorf("%w: %s", errBadEdit, what) }
	for len(b) > 0 {
		tag, ok := uv()
		if !ok {
			return bad("bad tag")
		}
		switch tag {
		case tagLogNum:
			if e.logNum, ok = uv(); !ok {
				return bad("bad log number")
			}
			e.hasLogNum = true
		case tagNextFileNum:
			if e.nextFileNum, ok = uv(); !ok {
				return bad("bad next file number")
			}
			e.hasNextFileNum = true
		case tagLastSeq:
			if e.lastSeq, ok = uv(); !ok || e.lastSeq > maxSeq {
				return bad("bad last sequence")
			}
			e.hasLastSeq = true
		case tagDeletedFile:
			level, ok1 := uv()
			num, ok2 := uv()
			if !ok1 || !ok2 || level >= numLevels {
				return bad("bad deleted file")
			}
			e.deleted = append(e.deleted, deletedFile{int(level), num})
		case tagNewFile, tagNewFileCRC:
			level, ok1 := uv()
			num, ok2 := uv()
			size, ok3 := uv()
			if !ok1 || !ok2 || !ok3 || level >= numLevels {
				return bad("bad new file")
			}
			smallest, ok4 := key()
			largest, ok5 := key()
			if !ok4 || !ok5 || compareInternal(smallest, largest) > 0 {
				return bad("bad new file bounds")
			}
			m := &fileMeta{num: num, size: size, smallest: smallest, largest: largest}
			if tag == tagNewFileCRC {
				crc, ok := uv()
				if !ok || crc > 1<<32-1 {
					return bad("bad new file checksum")
				}
				m.crc, m.hasCRC = uint32(crc), true
			}
			e.added = append(e.added, addedFile{int(level), m})
		case tagFormat:
			if e.format, ok = uv(); !ok || e.format == 0 {
				return bad("bad format version")
			}
		case tagDBID:
			id, rest, ok := readBytes(b)
			if !ok || len(id) == 0 {
				return bad("bad database identity")
			}
			b = rest
			e.dbID = slices.Clone(id)
		case tagLogAdded:
			num, ok1 := uv()
			flags, ok2 := uv()
			reserved, ok3 := uv()
			if !ok1 || !ok2 || !ok3 || flags&^logFlagMapped != 0 {
				return bad("bad added log")
			}
			e.addedLogs = append(e.addedLogs, logAdded{num: num, mapped: flags&logFlagMapped != 0, reserved: reserved})
		case tagLogSynced:
			num, ok1 := uv()
			size, ok2 := uv()
			flags, ok3 := uv()
			if !ok1 || !ok2 || !ok3 || flags&^logFlagFinal != 0 {
				return bad("bad synced log")
			}
			e.syncedLogs = append(e.syncedLogs, logSynced{num: num, size: size, final: flags&logFlagFinal != 0})
		default:
			return bad(fmt.Sprintf("unknown tag %d", tag))
		}
	}
	return e, nil
}

// apply returns a new version: base with the edit applied. base is not
// modified. File reference counts are taken by the caller when it
// installs the version (see installVersion).
func (base *version) apply(e *versionEdit) (*version, error) {
	v := &version{}
	for level := range numLevels {
		v.levels[level] = slices.Clone(base.levels[level])
	}
	for _, d := range e.deleted {
		i := slices.IndexFunc(v.levels[d.level], func(f *fileMeta) bool { return f.num == d.num })
		if i < 0 {
			return nil, fmt.Errorf("%w: deleting file %d absent from level %d", errBadEdit, d.num, d.level)
		}
		v.levels[d.level] = slices.Delete(v.levels[d.level], i, i+1)
	}
	for _, a := range e.added {
		v.levels[a.level] = append(v.levels[a.level], a.meta)
	}
	slices.SortFunc(v.levels[0], func(a, b *fileMeta) int {
		switch {
		case a.num > b.num:
			return -1
		case a.num < b.num:
			return 1
		}
		return 0
	})
	for level := 1; level < numLevels; level++ {
		slices.SortFunc(v.levels[level], func(a, b *fileMeta) int {
			return compareInternal(a.smallest, b.smallest)
		})
	}
	if err := v.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEdit, err)
	}
	return v, nil
}

// snapshotEdit returns an edit that rebuilds v from nothing, the first
// record of a new manifest.
func (v *version) snapshotEdit() *versionEdit {
	e := &versionEdit{}
	for level, files := range v.levels {
		for _, f := range files {
			e.added = append(e.added, addedFile{level, f})
		}
	}
	return e
}
