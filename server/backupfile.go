package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What the backup and restore commands do with backup files: save the
// server's stream verified, and restore one offline into a data folder.

// ErrRestoreNotEmpty is returned by [Restore] when the target data folder
// exists and is not empty (or is not a folder); nothing is written.
var ErrRestoreNotEmpty = errors.New("restore target is not an empty folder")

// BackupProgress is how far a backup download or a restore is.
type BackupProgress struct {
	// Done counts the archive bytes read so far.
	Done int64
	// Total is the archive's size in bytes, or -1 when unknown.
	Total int64
}

// Backup saves an online backup of the server (GET /v1/admin/backup) to
// the file out, which must not exist. It writes out+".partial" while
// verifying the archive as it arrives (every checksum, every listed file
// present), fsyncs it, and only then gives it its name; on any failure it
// removes what it wrote. It gives up when the server sends nothing for the
// client's timeout (ClientOptions.Timeout). It calls progress, when not
// nil, after every read. It returns the backup's FORMAT and the archive's
// size.
func (c *Client) Backup(ctx context.Context, out string, progress func(BackupProgress)) (BackupInfo, int64, error) {
	if _, err := os.Lstat(out); err == nil {
		return BackupInfo{}, 0, fmt.Errorf("%s already exists; a backup never overwrites a file", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, 0, err
	}
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return BackupInfo{}, 0, fmt.Errorf("%s exists: another backup is writing it, or one was killed (then remove it)", partial)
		}
		return BackupInfo{}, 0, err
	}
	info, n, err := c.download(ctx, f, progress)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = publish(partial, out)
	}
	if err != nil {
		os.Remove(partial)
		return info, n, err
	}
	return info, n, nil
}

// download streams the backup into f, verifying it.
func (c *Client) download(ctx context.Context, f io.Writer, progress func(BackupProgress)) (BackupInfo, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := c.opts.Timeout
	errIdle := fmt.Errorf("the server sent nothing for %v (raise --timeout)", idle)
	timer := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer timer.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/admin/backup", nil)
	if err != nil {
		return BackupInfo{}, 0, err
	}
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	if c.opts.APIKey != "" {
		req.Header.Set(c.opts.APIKeyHeader, c.opts.APIKey)
	}
	// The archive is checked byte for byte: no transparent decoding.
	req.Header.Set("Accept-Encoding", "identity")
	// No overall time limit, which a large backup would exceed: the idle
	// timer above stands in for it.
	hc := &http.Client{Transport: c.hc.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return BackupInfo{}, 0, causeOf(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return BackupInfo{}, 0, fmt.Errorf("the server answered %d: %s", resp.StatusCode, errorMessage(resp.Body))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-tar" || resp.Header.Get("Content-Encoding") != "" {
		return BackupInfo{}, 0, fmt.Errorf("the server answered %q (%s), not a backup archive", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"))
	}
	cr := &countingReader{r: resp.Body, total: resp.ContentLength, progress: progress,
		onRead: func() { timer.Reset(idle) }}
	info, err := readBackup(io.TeeReader(cr, f), nil, nil)
	if err != nil {
		return info, cr.n, causeOf(ctx, err)
	}
	return info, cr.n, nil
}

// causeOf prefers the reason ctx was cancelled (the idle timeout) to the
// error it caused.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}

// errorMessage is the message of a JSON error answer, or its text.
func errorMessage(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
		return e.Error.Code + ": " + e.Error.Message
	}
	return strings.TrimSpace(truncate(string(data), 200))
}

// publish gives the complete file partial the name out, never replacing a
// file that appeared there meanwhile, and makes the name durable.
func publish(partial, out string) error {
	err := os.Link(partial, out)
	switch {
	case err == nil:
		if err := os.Remove(partial); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s appeared while the backup ran; the backup was not kept", out)
	default:
		// A file system without hard links: rename, which would replace
		// a file created since the check at the start.
		if _, err := os.Lstat(out); err == nil {
			return fmt.Errorf("%s appeared while the backup ran; the backup was not kept", out)
		}
		if err := os.Rename(partial, out); err != nil {
			return err
		}
	}
	return fsyncDir(filepath.Dir(out))
}

// countingReader counts what it reads and reports it.
type countingReader struct {
	r        io.Reader
	n, total int64
	progress func(BackupProgress)
	onRead   func()
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if cr.onRead != nil {
		cr.onRead()
	}
	if cr.progress != nil && n > 0 {
		cr.progress(BackupProgress{Done: cr.n, Total: cr.total})
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

// Restore restores the backup archive in the file from into dataDir, for
// a server that is not running: dataDir must not exist or be empty (else
// [ErrRestoreNotEmpty], and nothing is written). The files are extracted
// into dataDir/.restore-tmp-*, every checksum is verified, everything is
// fsynced, and only then is the database folder renamed to dataDir/db,
// where a server with server.data_dir = dataDir finds it. On any failure
// it removes what it wrote. It calls progress, when not nil, after every
// read of the archive.
//
// The restored database has no write-ahead log: it starts from the
// backup's tables alone, so storage.wal_dir must not hold another
// database's logs (the default, dataDir/wal, is new).
func Restore(ctx context.Context, from, dataDir string, progress func(BackupProgress)) (info BackupInfo, err error) {
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
			return info, fmt.Errorf("%w: %s is a file", ErrRestoreNotEmpty, dataDir)
		}
		return info, err
	case len(names) > 0:
		return info, fmt.Errorf("%w: %s holds %s; restore into a new or empty folder", ErrRestoreNotEmpty, dataDir, describeNames(names))
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
	info, err = readBackup(cr, nil, func(name string, r io.Reader) error {
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

// Line renders the progress for a terminal: bytes so far, the rate over
// elapsed and, with a known total, the share done and the time left, such
// as "saving 12.0 MiB of 48.0 MiB (25%), 6.0 MiB/s, ETA 6s".
func (p BackupProgress) Line(verb string, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(verb + " " + FormatBytes(p.Done))
	if p.Total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", FormatBytes(p.Total), min(100, p.Done*100/p.Total))
	}
	if elapsed <= 0 {
		return b.String()
	}
	rate := float64(p.Done) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %.1f MiB/s", rate/(1<<20))
	if p.Total > 0 && rate > 0 {
		left := time.Duration(float64(max(0, p.Total-p.Done)) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
	}
	return b.String()
}

// FormatBytes renders a size in bytes, KiB, MiB or GiB with one decimal.
func FormatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
