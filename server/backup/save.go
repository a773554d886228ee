package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Output is a backup file being saved: the archive is written to
// PATH.partial, and given its name only once it is complete, synced and
// verified, so that a file named PATH is always a whole backup. Create it
// with [Create]; after writing, call Commit to keep it, or Discard to
// remove it. An Output is not safe for concurrent use.
type Output struct {
	path, partial string
	f             *os.File // nil once committed or discarded
}

// Create starts saving a backup to path, which must not exist (a backup
// never replaces a file), by creating path+".partial".
func Create(path string) (*Output, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s already exists; a backup never overwrites a file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s exists: another backup is writing it, or one was killed (then remove it)", partial)
		}
		return nil, err
	}
	return &Output{path: path, partial: partial, f: f}, nil
}

// Write writes to the partial file.
func (o *Output) Write(p []byte) (int, error) { return o.f.Write(p) }

// Commit syncs and closes the partial file and gives it the final name,
// never replacing a file that appeared there meanwhile, and makes the name
// durable. On failure it removes the partial file.
func (o *Output) Commit() error {
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.f = nil
	if err == nil {
		err = publish(o.partial, o.path)
	}
	if err != nil {
		os.Remove(o.partial)
	}
	return err
}

// Discard closes and removes the partial file; after Commit it does
// nothing.
func (o *Output) Discard() {
	if o.f == nil {
		return
	}
	o.f.Close()
	o.f = nil
	os.Remove(o.partial)
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
