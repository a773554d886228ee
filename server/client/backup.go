package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"amaters-server/server/backup"
)

// Backup saves an online backup of the server (GET /v1/admin/backup) to
// the file out, which must not exist. It writes out+".partial" while
// verifying the archive as it arrives (every checksum, every listed file
// present), fsyncs it, and only then gives it its name; on any failure it
// removes what it wrote. It gives up when the server sends nothing for the
// client's timeout (Options.Timeout). It calls progress, when not
// nil, after every read. It returns the backup's FORMAT and the archive's
// size.
func (c *Client) Backup(ctx context.Context, out string, progress func(backup.Progress)) (backup.Info, int64, error) {
	f, err := backup.Create(out)
	if err != nil {
		return backup.Info{}, 0, err
	}
	info, n, err := c.download(ctx, f, progress)
	if err != nil {
		f.Discard()
		return info, n, err
	}
	return info, n, f.Commit()
}

// download streams the backup into f, verifying it.
func (c *Client) download(ctx context.Context, f io.Writer, progress func(backup.Progress)) (backup.Info, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := c.opts.Timeout
	errIdle := fmt.Errorf("the server sent nothing for %v (raise --timeout)", idle)
	timer := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer timer.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/admin/backup", nil)
	if err != nil {
		return backup.Info{}, 0, err
	}
	c.setCredentials(req.Header)
	// The archive is checked byte for byte: no transparent decoding.
	req.Header.Set("Accept-Encoding", "identity")
	// No overall time limit, which a large backup would exceed: the idle
	// timer above stands in for it.
	hc := &http.Client{Transport: c.tr}
	resp, err := hc.Do(req)
	if err != nil {
		return backup.Info{}, 0, causeOf(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return backup.Info{}, 0, fmt.Errorf("the server answered %d: %s", resp.StatusCode, errorMessage(resp.Body))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-tar" || resp.Header.Get("Content-Encoding") != "" {
		return backup.Info{}, 0, fmt.Errorf("the server answered %q (%s), not a backup archive", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"))
	}
	cr := &countingReader{r: resp.Body, total: resp.ContentLength, progress: progress,
		onRead: func() { timer.Reset(idle) }}
	info, err := backup.Verify(io.TeeReader(cr, f))
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
	if len(data) > 200 {
		data = append(data[:200:200], "..."...)
	}
	return strings.TrimSpace(string(data))
}

// countingReader counts what it reads and reports it.
type countingReader struct {
	r        io.Reader
	n, total int64
	progress func(backup.Progress)
	onRead   func()
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if cr.onRead != nil {
		cr.onRead()
	}
	if cr.progress != nil && n > 0 {
		cr.progress(backup.Progress{Done: cr.n, Total: cr.total})
	}
	return n, err
}
