package lsm

import (
	"bytes"
	"reflect"
	"testing"
)

func sampleEdit() *versionEdit {
	return &versionEdit{
		hasLogNum: true, logNum: 7,
		hasNextFileNum: true, nextFileNum: 12,
		hasLastSeq: true, lastSeq: 1234,
		deleted: []deletedFile{{1, 3}, {2, 4}},
		added: []addedFile{{0, &fileMeta{num: 9, size: 4096,
			smallest: appendInternalKey(nil, []byte("a"), 5, kindSet),
			largest:  appendInternalKey(nil, []byte("z"), 6, kindDelete)}}},
	}
}

func editsEqual(a, b *versionEdit) bool {
	if a.hasLogNum != b.hasLogNum || a.logNum != b.logNum || a.hasNextFileNum != b.hasNextFileNum ||
		a.nextFileNum != b.nextFileNum || a.hasLastSeq != b.hasLastSeq || a.lastSeq != b.lastSeq ||
		!reflect.DeepEqual(a.deleted, b.deleted) || len(a.added) != len(b.added) {
		return false
	}
	for i := range a.added {
		x, y := a.added[i], b.added[i]
		if x.level != y.level || x.meta.num != y.meta.num || x.meta.size != y.meta.size ||
			!bytes.Equal(x.meta.smallest, y.meta.smallest) || !bytes.Equal(x.meta.largest, y.meta.largest) {
			return false
		}
	}
	return true
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

// FuzzWALReplay opens a database whose only log holds arbitrary bytes:
// Open must fail with an error or succeed, never panic.
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
		db.Close()
		w, _ := fs.Create("/db/999999.log")
		w.Write(data)
		w.Sync()
		fs.crashClone(0, nil) // exercise the clone path too
		db, err = Open("/db", Options{FS: fs})
		if err == nil {
			it := db.NewIterator(nil, nil)
			for it.Next() {
			}
			it.Close()
			db.Close()
		}
	})
}
