package logrot

import (
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// maintainLoop is the background goroutine: one maintenance pass per kick
// until ctx is cancelled. One goroutine does every pass, so two passes
// never race on the same files.
func (w *Writer) maintainLoop(ctx context.Context) {
	defer w.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		for _, err := range w.maintain(ctx) {
			w.mu.Lock()
			w.noteLocked(&w.stats.BackgroundErrors, err)
			w.mu.Unlock()
		}
	}
}

// backupSet is one backup in all the forms present in the directory.
type backupSet struct {
	key     string // name of the plain form
	b       backup // kind is meaningless here
	present [3]bool
}

func (s *backupSet) path(w *Writer, k kind) string {
	b := s.b
	b.kind = k
	return filepath.Join(w.dir, w.names.format(b))
}

// maintain finishes or cleans interrupted compressions, removes backups
// beyond MaxBackups or MaxAge, then compresses the rest if asked to. It
// touches only names this Writer's namer parses, and returns every error
// met on the way (it goes on after each).
//
// Recovery relies on the order compress follows: the .gz.tmp is complete
// and synced before it is renamed to .gz, and the plain file is removed
// only after that rename is synced. So a plain file is always complete, and
// a .gz next to its plain file is complete unless something else wrote it.
func (w *Writer) maintain(ctx context.Context) []error {
	var errs []error
	sets, err := w.scan()
	if err != nil {
		return []error{err}
	}
	// Read after the scan: a backup pinned later was not in it.
	w.mu.Lock()
	pinned := w.pinned
	w.mu.Unlock()
	sets = slices.DeleteFunc(sets, func(s *backupSet) bool { return s.key == pinned })

	remove := func(s *backupSet, k kind) {
		if err := os.Remove(s.path(w, k)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("logrot: %w", err))
			return
		}
		s.present[k] = false
	}
	for _, s := range sets {
		switch {
		case s.present[partial] && (s.present[plain] || s.present[gzipped]):
			remove(s, partial)
		case s.present[partial]:
			// The plain file is gone, so the temporary file holds the only
			// copy: finish it if it is whole, and leave it alone if not.
			if _, err := gunzipLen(s.path(w, partial)); err != nil {
				errs = append(errs, fmt.Errorf("logrot: keep %s: %w", s.path(w, partial), err))
				continue
			}
			if err := w.publish(s.path(w, partial), s.path(w, gzipped)); err != nil {
				errs = append(errs, err)
				continue
			}
			s.present[partial], s.present[gzipped] = false, true
		}
		if s.present[plain] && s.present[gzipped] {
			// Interrupted after the rename: trust the .gz only if it holds
			// exactly the plain file's length, checked by its CRC.
			info, err := os.Stat(s.path(w, plain))
			if err != nil {
				errs = append(errs, fmt.Errorf("logrot: %w", err))
				continue
			}
			if n, err := gunzipLen(s.path(w, gzipped)); err == nil && n == info.Size() {
				remove(s, plain)
			} else {
				remove(s, gzipped)
			}
		}
	}

	// Newest first; a backup is kept while both limits allow it.
	slices.SortFunc(sets, func(a, b *backupSet) int {
		if c := b.b.stamp.Compare(a.b.stamp); c != 0 {
			return c
		}
		return cmp.Compare(b.b.seq, a.b.seq)
	})
	cutoff := w.opts.Clock().Add(-w.opts.MaxAge)
	kept := sets[:0]
	for i, s := range sets {
		if (w.opts.MaxBackups > 0 && i >= w.opts.MaxBackups) ||
			(w.opts.MaxAge > 0 && s.b.stamp.Before(cutoff)) {
			for k := range s.present {
				if s.present[k] {
					remove(s, kind(k))
				}
			}
			continue
		}
		kept = append(kept, s)
	}

	if !w.opts.Compress {
		return errs
	}
	for _, s := range slices.Backward(kept) { // oldest first
		if !s.present[plain] || s.present[gzipped] {
			continue
		}
		if err := w.compress(ctx, s); err != nil {
			if ctx.Err() != nil {
				return errs // Close interrupted us; the next New finishes
			}
			errs = append(errs, err)
		}
	}
	return errs
}

// scan lists the backups of this Writer in its directory.
func (w *Writer) scan() ([]*backupSet, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("logrot: scan backups: %w", err)
	}
	byKey := make(map[string]*backupSet)
	var sets []*backupSet
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, ok := w.names.parse(e.Name())
		if !ok {
			continue
		}
		k := b.kind
		b.kind = plain
		key := w.names.format(b)
		s := byKey[key]
		if s == nil {
			s = &backupSet{key: key, b: b}
			byKey[key] = s
			sets = append(sets, s)
		}
		s.present[k] = true
	}
	return sets, nil
}

// compress writes the gzip form of backup s: to .gz.tmp, synced, renamed
// to .gz, directory synced, and only then the plain file removed. A crash at
// any point leaves the plain file or a complete .gz (see maintain).
func (w *Writer) compress(ctx context.Context, s *backupSet) (err error) {
	src, tmp := s.path(w, plain), s.path(w, partial)
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	defer in.Close() // read-only; nothing to report
	info, err := in.Stat()
	if err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	defer func() {
		if err != nil {
			_ = out.Close()    // already failed; the first error is the one to report
			_ = os.Remove(tmp) // the plain file is intact
		}
	}()
	if err := out.Chmod(info.Mode().Perm()); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	zw := gzip.NewWriter(out)
	zw.Name = filepath.Base(src)
	zw.ModTime = info.ModTime()
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := zw.Write(buf[:n]); err != nil {
				return fmt.Errorf("logrot: compress %s: %w", src, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("logrot: compress: %w", rerr)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("logrot: compress %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	if err := w.publish(tmp, s.path(w, gzipped)); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	return nil
}

// publish renames a complete, synced temporary file to its final name and
// syncs the directory, so the rename survives a crash before the plain
// file is removed.
func (w *Writer) publish(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("logrot: compress: %w", err)
	}
	return nil
}

// gunzipLen reads the gzip file at path to its end, which checks its CRC
// and length trailer, and returns the uncompressed length.
func gunzipLen(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close() // read-only
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// syncDir commits the entries of dir (creations, renames) to stable storage.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // the sync error is the one to report
		return err
	}
	return d.Close()
}
