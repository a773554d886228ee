package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Restore restores the backup archive in the file from into dataDir, for
// a server that is not running: dataDir must not exist or be empty (else
// [ErrNotEmpty], and nothing is written). The files are extracted
// into dataDir/.restore-tmp-*, every checksum is verified, everything is
// fsynced, and only then is the database folder renamed to dataDir/db,
// where a server with server.data_dir = dataDir finds it. On any failure
// it removes what it wrote. It calls progress, when not nil, after every
// read of the archive.
//
// The restored database has no write-ahead log: it starts from the
// backup's tables alone, so storage.wal_dir must not hold another
// database's logs (the default, dataDir/wal, is new).
func Restore(ctx context.Context, from, dataDir string, progress func(Progress)) (info Info, err error) {
	// Look before opening: opening a FIFO would block until a writer came.
	if fi, err := os.Stat(from); err == nil && !fi.Mode().IsRegular() {
		return info, fmt.Errorf("%s is not a regular file", from)
	}
	src, err := os.Open(from)
	if err != nil {
		return info, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return info, err
	}
	if !st.Mode().IsRegular() {
		return info, fmt.Errorf("%s is not a regular file", from)
	}
	created := false
	switch names, err := readDirNames(dataDir); {
	case errors.Is(err, fs.ErrNotExist):
		created = true
	case err != nil:
		if fi, serr := os.Stat(dataDir); serr == nil && !fi.IsDir() {
			return info, fmt.Errorf("%w: %s is a file", ErrNotEmpty, dataDir)
		}
		return info, err
	case len(names) > 0:
		return info, fmt.Errorf("%w: %s holds %s; restore into a new or empty folder", ErrNotEmpty, dataDir, describeNames(names))
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return info, err
	}
	tmp, err := os.MkdirTemp(dataDir, ".restore-tmp-")
	if err != nil {
		return info, err
	}
	defer func() {
		if err == nil {
			return
		}
		os.RemoveAll(tmp)
		if created {
			os.Remove(dataDir)
		}
	}()
	db := filepath.Join(tmp, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		return info, err
	}
	cr := &countingReader{r: ctxReader{ctx: ctx, r: src}, total: st.Size(), progress: progress}
	info, err = read(cr, nil, func(name string, r io.Reader) error {
		if err := writeRestoredFile(filepath.Join(db, name), r); err != nil {
			return fmt.Errorf("restore db/%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return info, ctx.Err()
		}
		return info, err
	}
	if err := fsyncDir(db); err != nil {
		return info, err
	}
	if err := os.Rename(db, filepath.Join(dataDir, "db")); err != nil {
		return info, err
	}
	if err := fsyncDir(dataDir); err != nil {
		return info, err
	}
	if err := os.Remove(tmp); err != nil {
		return info, err
	}
	if err := fsyncDir(dataDir); err != nil {
		return info, err
	}
	if created {
		return info, fsyncDir(filepath.Dir(dataDir))
	}
	return info, nil
}

// writeRestoredFile writes one database file and fsyncs it.
func writeRestoredFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(3)
	if err == io.EOF { // empty
		err = nil
	}
	return names, err
}

// describeNames names a few entries of a folder, for an error message.
func describeNames(names []string) string {
	if len(names) > 2 {
		return strings.Join(names[:2], ", ") + " and more"
	}
	return strings.Join(names, ", ")
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// countingReader counts what it reads and reports it.
type countingReader struct {
	r        io.Reader
	n, total int64
	progress func(Progress)
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if cr.progress != nil && n > 0 {
		cr.progress(Progress{Done: cr.n, Total: cr.total})
	}
	return n, err
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (cr ctxReader) Read(p []byte) (int, error) {
	if err := cr.ctx.Err(); err != nil {
		return 0, err
	}
	return cr.r.Read(p)
}
