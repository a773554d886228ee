package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"amaters-server/lsm/internal/record"
)

func sampleEdit() *versionEdit {
	return &versionEdit{
		format: manifestFormat, dbID: []byte("0123456789abcdef"),
		hasLogNum: true, logNum: 7,
		hasNextFileNum: true, nextFileNum: 12,
		hasLastSeq: true, lastSeq: 1234,
		deleted: []deletedFile{{1, 3}, {2, 4}},
		added: []addedFile{{0, &fileMeta{num: 9, size: 4096,
			smallest: appendInternalKey(nil, []byte("a"), 5, kindSet),
			largest:  appendInternalKey(nil, []byte("z"), 6, kindDelete)}},
			{1, &fileMeta{num: 10, size: 8192, crc: 0xdeadbeef, hasCRC: true,
				smallest: appendInternalKey(nil, []byte("b"), 7, kindSet),
				largest:  appendInternalKey(nil, []byte("c"), 8, kindSet)}}},
		addedLogs:  []logAdded{{num: 7, mapped: true, reserved: 1 << 20}, {num: 8}},
		syncedLogs: []logSynced{{num: 7, size: 4096, final: true}, {num: 8, size: 100}},
	}
}

func editsEqual(a, b *versionEdit) bool {
	if a.format != b.format || !bytes.Equal(a.dbID, b.dbID) ||
		a.hasLogNum != b.hasLogNum || a.logNum != b.logNum || a.hasNextFileNum != b.hasNextFileNum ||
		a.nextFileNum != b.nextFileNum || a.hasLastSeq != b.hasLastSeq || a.lastSeq != b.lastSeq ||
		!reflect.DeepEqual(a.deleted, b.deleted) || len(a.added) != len(b.added) ||
		!slices.Equal(a.addedLogs, b.addedLogs) || !slices.Equal(a.syncedLogs, b.syncedLogs) {
		return false
	}
	for i := range a.added {
		x, y := a.added[i], b.added[i]
		if x.level != y.level || x.meta.num != y.meta.num || x.meta.size != y.meta.size ||
			x.meta.crc != y.meta.crc || x.meta.hasCRC != y.meta.hasCRC ||
			!bytes.Equal(x.meta.smallest, y.meta.smallest) || !bytes.Equal(x.meta.largest, y.meta.largest) {
			return false
		}
	}
	return true
}

// A format-2 manifest's first edit begins with tagFormat, a tag release
// 0.2 does not know (it knew 1 to 5 and refuses any other): 0.2 refuses a
// format-2 manifest rather than misreading it.
func TestFormat2RefusedByOldReleases(t *testing.T) {
	data, err := readFile(osFS{}, filepath.Join("testdata", "format-v2", "MANIFEST-000002"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.NewReader(data).Next()
	if err != nil {
		t.Fatal(err)
	}
	if tag, _ := binary.Uvarint(rec); tag != tagFormat || tagFormat <= tagNewFile {
		t.Fatalf("first tag %d: want %d, unknown to release 0.2", tag, tagFormat)
	}
}

// A manifest of a newer format is refused with ErrFormat, naming it.
func TestNewerFormatRefused(t *testing.T) {
	fs := newMemFS()
	fs.MkdirAll("/db", 0o700)
	e := sampleEdit()
	e.format = manifestFormat + 1
	e.addedLogs, e.syncedLogs = nil, nil
	if _, err := createManifest(fs, "/db", 3, e); err != nil {
		t.Fatal(err)
	}
	_, err := Open("/db", Options{FS: fs})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "MANIFEST-000003") {
		t.Fatalf("Open of a newer format = %v", err)
	}
}

func TestApplyLogsRejects(t *testing.T) {
	base := []liveLog{{num: 5}, {num: 6, synced: 100}}
	tests := []struct {
		name string
		e    versionEdit
	}{
		{"added twice", versionEdit{addedLogs: []logAdded{{num: 5}}}},
		{"added below the log number", versionEdit{hasLogNum: true, logNum: 6, addedLogs: []logAdded{{num: 4}}}},
		{"synced but not live", versionEdit{syncedLogs: []logSynced{{num: 9, size: 1}}}},
		{"synced after its log number passed", versionEdit{hasLogNum: true, logNum: 6, syncedLogs: []logSynced{{num: 5, size: 1}}}},
		{"synced size goes back", versionEdit{syncedLogs: []logSynced{{num: 6, size: 99}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := applyLogs(base, &tc.e); err == nil {
				t.Error("accepted")
			}
		})
	}
	final, err := applyLogs(base, &versionEdit{syncedLogs: []logSynced{{num: 6, size: 200, final: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyLogs(final, &versionEdit{syncedLogs: []logSynced{{num: 6, size: 300}}}); err == nil {
		t.Error("a synced size after the final one was accepted")
	}
}

func TestEditRoundTrip(t *testing.T) {
	for _, e := range []*versionEdit{{}, sampleEdit()} {
		got, err := decodeEdit(e.encode())
		if err != nil {
			t.Fatal(err)
		}
		if !editsEqual(got, e) {
			t.Errorf("round trip changed the edit: %+v vs %+v", got, e)
		}
	}
}

func TestEditRejects(t *testing.T) {
	good := sampleEdit().encode()
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown tag", []byte{99, 1}},
		{"truncated", good[:len(good)-3]},
		{"level out of range", []byte{tagDeletedFile, 9, 1}},
		{"bad varint", []byte{tagLogNum, 0xff}},
		{"short key", []byte{tagNewFile, 0, 1, 1, 2, 'a', 'b', 2, 'a', 'b'}},
		{"zero format", []byte{tagFormat, 0}},
		{"empty identity", []byte{tagDBID, 0}},
		{"unknown log flag", []byte{tagLogAdded, 1, 2, 0}},
		{"unknown synced flag", []byte{tagLogSynced, 1, 2, 2}},
		{"checksum too large", func() []byte {
			k := appendInternalKey(nil, []byte("a"), 1, kindSet)
			b := []byte{tagNewFileCRC, 0, 1, 1, byte(len(k))}
			b = append(append(b, k...), byte(len(k)))
			return binary.AppendUvarint(append(b, k...), 1<<33)
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeEdit(tc.data); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func FuzzManifest(f *testing.F) {
	f.Add(sampleEdit().encode())
	f.Add([]byte{})
	f.Add([]byte{tagLogNum, 5, tagLastSeq, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEdit(data)
		if err != nil {
			return
		}
		// Property: whatever decodes re-encodes to an equal edit.
		again, err := decodeEdit(e.encode())
		if err != nil || !editsEqual(e, again) {
			t.Fatalf("re-encode: %v", err)
		}
		// Applying it to an empty version must not panic.
		(&version{}).apply(e)
	})
}

func FuzzBatch(f *testing.F) {
	var b Batch
	b.Put([]byte("k"), []byte("v"))
	b.Delete([]byte("gone"))
	b.setSeq(10)
	f.Add(b.data)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newBatchReader(data)
		if err != nil {
			return
		}
		var rebuilt Batch
		for {
			k, key, value, ok := r.next()
			if !ok {
				break
			}
			if k == kindSet {
				rebuilt.Put(key, value)
			} else {
				rebuilt.Delete(key)
			}
		}
		if r.err != nil {
			return
		}
		// Property: a batch that parses is exactly what Batch encodes.
		rebuilt.setSeq(r.seq)
		if !bytes.Equal(rebuilt.data, data) && !(len(data) == batchHeaderLen && r.count == 0) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzWALReplay opens a database whose live log, the one its manifest
// lists, holds arbitrary bytes: Open must fail with an error or succeed,
// never panic, and what it serves must be readable.
func FuzzWALReplay(f *testing.F) {
	fs := newMemFS()
	db, _ := Open("/db", Options{FS: fs})
	db.Put([]byte("a"), []byte("1"))
	var walData []byte
	fs.mu.Lock()
	for name, n := range fs.dirs["/db"].entries {
		if t, _ := parseName(name); t == typeWAL && len(n.data) > 0 {
			walData = bytes.Clone(n.data)
		}
	}
	fs.mu.Unlock()
	db.Close()
	f.Add(walData)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := newMemFS()
		db, err := Open("/db", Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		killed := fs.clone() // the live log listed, not yet finished
		db.Close()
		names, _ := killed.List("/db")
		for _, name := range names {
			if typ, _ := parseName(name); typ == typeWAL {
				w, _ := killed.Create("/db/" + name)
				w.Write(data)
				w.Sync()
				w.Close()
			}
		}
		killed.crashClone(0, nil) // exercise the clone path too
		db, err = Open("/db", Options{FS: killed})
		if err == nil {
			it := db.NewIterator(nil, nil)
			for it.Next() {
			}
			it.Close()
			db.Close()
		}
	})
}
