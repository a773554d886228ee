package backup

import (
	"errors"
	"fmt"
)

// ErrInvalid is returned, wrapped with the entry at fault, when a backup
// archive is not one the server wrote or was damaged: truncated, a
// checksum mismatch, a missing, extra or unsafe entry, or an unsupported
// format version.
var ErrInvalid = errors.New("invalid backup")

// ErrNotEmpty is returned by [Restore] when the target data folder exists
// and is not empty (or is not a folder); nothing is written.
var ErrNotEmpty = errors.New("restore target is not an empty folder")

// invalid is an error wrapping ErrInvalid that names the entry
// at fault ("" for the archive as a whole).
func invalid(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + " " + msg
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// truncate shortens s to n bytes for a message, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
