package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"amaters-server/lsm/internal/record"
)

// Checkpoint is a consistent, point-in-time set of files from which a
// database can be opened: the tables of one version, pinned so that no
// compaction deletes them while they are copied, and a manifest and
// CURRENT made for them. It needs no write-ahead log: [DB.Checkpoint]
// flushes the memtable first, so every write acknowledged before the
// call is in the tables.
//
// Copy the files with [Checkpoint.Open] into an empty directory, in any
// order, and open that directory with [Open]. Close the checkpoint when
// done, and before closing the DB. A database opened from a checkpoint
// has an identity of its own: give it a log folder of its own too (a
// log folder another database used is refused).
type Checkpoint struct {
	d        *DB
	v        *version // pinned; nil once closed
	seq      uint64
	files    []CheckpointFile
	manifest []byte
	current  []byte
}

// CheckpointFile is one file of a checkpoint: its base name in the
// database directory and its size in bytes.
type CheckpointFile struct {
	Name string
	Size int64
}

// Checkpoint flushes the memtable and pins the current version. The
// checkpoint holds every write acknowledged before the call, and maybe
// some that were concurrent with it, always whole batches and always a
// prefix of the log (writes are flushed in order). Writes and reads go on
// while it is open.
func (d *DB) Checkpoint() (*Checkpoint, error) {
	if err := d.Flush(); err != nil {
		return nil, fmt.Errorf("lsm: checkpoint: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	v := d.current
	v.ref()
	// Every table entry was visible when its memtable was flushed, so
	// the visible sequence number bounds them all.
	seq := d.visibleSeq.Load()
	d.mu.Unlock()

	c := &Checkpoint{d: d, v: v, seq: seq}
	// A manifest number the live DB will never use for another file, and
	// a log number above it: the restored DB has no log to replay.
	num := d.nextFileNum.Add(1) - 1
	first := v.snapshotEdit()
	// A database opened from the checkpoint is a database of its own,
	// with an identity of its own, so that it cannot take the log folder
	// of this one for its own (verify.go, checkWALDir).
	first.format, first.dbID = manifestFormat, newDBID()
	first.hasLogNum, first.logNum = true, num+1
	first.hasNextFileNum, first.nextFileNum = true, num+2
	first.hasLastSeq, first.lastSeq = true, seq
	var buf bytes.Buffer
	w := record.NewWriter(&buf, 0)
	w.WriteRecord(first.encode())
	if err := w.Flush(); err != nil {
		v.unref()
		return nil, err
	}
	c.manifest = buf.Bytes()
	c.current = []byte(manifestName(num) + "\n")
	for _, files := range v.levels {
		for _, f := range files {
			c.files = append(c.files, CheckpointFile{Name: tableName(f.num), Size: int64(f.size)})
		}
	}
	slices.SortFunc(c.files, func(a, b CheckpointFile) int { return strings.Compare(a.Name, b.Name) })
	c.files = append(c.files,
		CheckpointFile{Name: manifestName(num), Size: int64(len(c.manifest))},
		CheckpointFile{Name: currentName, Size: int64(len(c.current))})
	return c, nil
}

// Files lists the checkpoint's files: the tables in name order, then the
// manifest, then CURRENT.
func (c *Checkpoint) Files() []CheckpointFile { return slices.Clone(c.files) }

// Seq is the last sequence number the checkpoint may hold: writes
// numbered above it are not in it.
func (c *Checkpoint) Seq() uint64 { return c.seq }

// Open returns the contents of one of the checkpoint's files. It fails
// after Close.
func (c *Checkpoint) Open(name string) (io.ReadCloser, error) {
	if c.v == nil {
		return nil, errors.New("lsm: checkpoint is closed")
	}
	i := slices.IndexFunc(c.files, func(f CheckpointFile) bool { return f.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("lsm: checkpoint has no file %q", name)
	}
	switch i {
	case len(c.files) - 1:
		return io.NopCloser(bytes.NewReader(c.current)), nil
	case len(c.files) - 2:
		return io.NopCloser(bytes.NewReader(c.manifest)), nil
	}
	f, err := c.d.fs.Open(filepath.Join(c.d.dir, name))
	if err != nil {
		return nil, fmt.Errorf("lsm: checkpoint: %w", err)
	}
	return &sectionFile{SectionReader: io.NewSectionReader(f, 0, c.files[i].Size), f: f}, nil
}

type sectionFile struct {
	*io.SectionReader
	f File
}

func (s *sectionFile) Close() error { return s.f.Close() }

// Close releases the pinned tables, so that compactions may delete them.
// It is idempotent.
func (c *Checkpoint) Close() error {
	if c.v == nil {
		return nil
	}
	v := c.v
	c.v = nil
	// After DB.Close the table cache is gone; the reference is dropped
	// with the process, and the next Open deletes what no version needs.
	if c.d.isClosed() {
		return nil
	}
	v.unref()
	return nil
}
