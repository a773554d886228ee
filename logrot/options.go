package logrot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Defaults applied by [New] to zero fields of [Options].
const (
	// DefaultMaxSize is the size limit when Options.MaxSize is 0: 100 MiB,
	// the max_size_mb default of the server configuration.
	DefaultMaxSize = 100 << 20
	// DefaultFileMode is the permission of files created when
	// Options.FileMode is 0 and there is no existing file to copy it from.
	DefaultFileMode fs.FileMode = 0o600
	// DefaultDirMode is the permission of directories created when
	// Options.DirMode is 0.
	DefaultDirMode fs.FileMode = 0o700
)

// Rotation selects when a [Writer] starts a new file besides the size limit.
// The zero value is [BySize].
type Rotation uint8

// The rotation schedules. Their text forms are the values of the server's
// logging.rotation setting.
const (
	// BySize rotates only when a write would push the file past MaxSize
	// (text "size").
	BySize Rotation = iota
	// Hourly also rotates at every full hour of the wall clock (text "hourly").
	Hourly
	// Daily also rotates at every midnight of the wall clock (text "daily").
	Daily
)

var rotationNames = [...]string{BySize: "size", Hourly: "hourly", Daily: "daily"}

// String returns "size", "hourly" or "daily".
func (r Rotation) String() string {
	if int(r) < len(rotationNames) {
		return rotationNames[r]
	}
	return fmt.Sprintf("Rotation(%d)", r)
}

// ParseRotation returns the Rotation named s ("size", "hourly" or "daily").
// An unknown name gives an error wrapping [ErrInvalidOptions].
func ParseRotation(s string) (Rotation, error) {
	for i, name := range rotationNames {
		if s == name {
			return Rotation(i), nil
		}
	}
	return 0, fmt.Errorf("%w: rotation %q is not size, hourly or daily", ErrInvalidOptions, s)
}

// MarshalText implements [encoding.TextMarshaler].
func (r Rotation) MarshalText() ([]byte, error) {
	if int(r) >= len(rotationNames) {
		return nil, fmt.Errorf("%w: rotation %d", ErrInvalidOptions, r)
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler], so a configuration
// decoder reports an unknown name with its position.
func (r *Rotation) UnmarshalText(text []byte) error {
	v, err := ParseRotation(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Options configures a [Writer]. It is passed by value; a zero Options
// consists entirely of defaults: rotation by size at 100 MiB, every backup
// kept forever, no compression, UTC names, files 0600, directories 0700,
// the real clock and no fallback.
//
// The first five fields mirror the server's logging section (API.md §2):
// MaxSize = max_size_mb << 20, Rotation = rotation, MaxBackups =
// max_backups, MaxAge = max_age_days * 24h, Compress = compress.
type Options struct {
	// MaxSize is the size in bytes a file may reach before the next write
	// goes to a new file. It applies with every Rotation. 0 means
	// DefaultMaxSize; a negative value means no size limit. A single write
	// larger than MaxSize is never split or refused: it goes whole into a
	// file of its own.
	MaxSize int64

	// Rotation adds rotation at wall-clock boundaries (see [Rotation]).
	Rotation Rotation

	// MaxBackups is how many rotated files to keep, newest first; older ones
	// are removed. 0 keeps them all (subject to MaxAge).
	MaxBackups int

	// MaxAge removes backups whose name says they were rotated out more than
	// MaxAge ago. 0 means no age limit. A backup goes when either MaxBackups
	// or MaxAge says so.
	MaxAge time.Duration

	// Compress gzips rotated files in the background (name.log.gz).
	Compress bool

	// LocalTime names backups and places hourly and daily boundaries in the
	// location of the times returned by Clock (time.Local for the default
	// clock) instead of UTC.
	LocalTime bool

	// FileMode is the permission of log files this Writer creates. 0 keeps
	// the permission of the existing file (and of the file before each
	// rotation), or DefaultFileMode when there is none. The permission of an
	// existing file is never changed.
	FileMode fs.FileMode

	// DirMode is the permission of the directories New (and Reopen) create
	// for the log file, less the umask; 0 means DefaultDirMode. Existing
	// directories are left as they are.
	DirMode fs.FileMode

	// Clock returns the current time; nil means time.Now. It drives hourly
	// and daily rotation, backup names and MaxAge.
	Clock func() time.Time

	// Fallback, when not nil, receives the whole of every write that could
	// not be written to the file (disk full, permission, after Close), so
	// that lines are not lost; os.Stderr is the usual choice. Its errors are
	// ignored. Writes to it are serialised.
	Fallback io.Writer
}

// withDefaults returns o with zero fields replaced by their defaults.
// FileMode stays zero: New needs to know whether it was set.
func (o Options) withDefaults() Options {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.DirMode == 0 {
		o.DirMode = DefaultDirMode
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// validate returns every problem of o, each wrapping ErrInvalidOptions.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if int(o.Rotation) >= len(rotationNames) {
		bad("rotation %d", o.Rotation)
	}
	if o.MaxBackups < 0 {
		bad("max backups %d < 0", o.MaxBackups)
	}
	if o.MaxAge < 0 {
		bad("max age %v < 0", o.MaxAge)
	}
	if o.FileMode&^fs.ModePerm != 0 {
		bad("file mode %v has bits beyond the permission", o.FileMode)
	}
	if o.DirMode&^fs.ModePerm != 0 {
		bad("dir mode %v has bits beyond the permission", o.DirMode)
	}
	return errors.Join(errs...)
}
