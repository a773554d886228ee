package backup

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	"amaters-server/blake3"
	"amaters-server/lsm"
)

// tarBlock is the tar block size: every header is one block and every
// file's data is padded to whole blocks.
const tarBlock = 512

// Size is the exact length of the archive [Write] writes of info and the
// files of a source: USTAR headers (the names are short enough to need no
// extension), data padded to blocks, and the two zero blocks of the end. The
// server announces it as the answer's Content-Length.
func Size(info Info, files []lsm.CheckpointFile) int64 {
	formatLen := len(encodeInfo(info))
	entrySize := func(n int64) int64 { return tarBlock + (n+tarBlock-1)/tarBlock*tarBlock }
	sums := sumLineLen(formatEntry)
	total := entrySize(int64(formatLen)) + 2*tarBlock
	for _, f := range files {
		total += entrySize(f.Size)
		sums += sumLineLen(dbPrefix + f.Name)
	}
	return total + entrySize(int64(sums))
}

func sumLineLen(path string) int { return 2*blake3.Size + 2 + len(path) + 1 }

// Source is what an archive is written from: the files of one lsm
// checkpoint. *lsm.Checkpoint is one.
type Source interface {
	// Files lists the files, in archive order.
	Files() []lsm.CheckpointFile
	// Open returns the contents of one of them.
	Open(name string) (io.ReadCloser, error)
}

// Write writes the archive of src to w: FORMAT (info, with Format set to
// this package's version and mtime info.Created), each of src's files, then
// BLAKE3SUMS. info.Files and info.Bytes must count src's files; [Size] is
// the number of bytes it writes. It returns the first error of w or src,
// or a file whose size differs from what Files said.
func Write(w io.Writer, info Info, src Source) error {
	format := encodeInfo(info)
	files := src.Files()
	a := &archiveWriter{tw: tar.NewWriter(w), mtime: info.Created, buf: make([]byte, 256<<10)}
	if err := a.add(formatEntry, int64(len(format)), bytes.NewReader(format)); err != nil {
		return err
	}
	for _, f := range files {
		rc, err := src.Open(f.Name)
		if err != nil {
			return err
		}
		err = a.add(dbPrefix+f.Name, f.Size, rc)
		rc.Close() // read-only: nothing to lose
		if err != nil {
			return err
		}
	}
	sums := a.sums.Bytes()
	if err := a.add(sumsEntry, int64(len(sums)), bytes.NewReader(sums)); err != nil {
		return err
	}
	return a.tw.Close()
}

// archiveWriter writes entries and collects their BLAKE3SUMS lines.
type archiveWriter struct {
	tw    *tar.Writer
	mtime time.Time
	sums  bytes.Buffer
	buf   []byte
}

func (a *archiveWriter) add(path string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: backupRoot + path, Size: size, Mode: 0o644,
		ModTime: a.mtime, Format: tar.FormatUSTAR}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup entry %s: %w", path, err)
	}
	h := blake3.New()
	n, err := io.CopyBuffer(io.MultiWriter(h, a.tw), io.LimitReader(r, size), a.buf)
	if err != nil {
		return fmt.Errorf("backup entry %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("backup entry %s: read %d bytes, expected %d", path, n, size)
	}
	if path != sumsEntry {
		fmt.Fprintf(&a.sums, "%x  %s\n", h.Sum(nil), path)
	}
	return nil
}
