package backup

import (
	"archive/tar"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"amaters-server/blake3"
)

// Verify reads a backup archive to its end and checks it: the
// layout, the FORMAT, that every entry's BLAKE3 checksum matches
// BLAKE3SUMS, and that BLAKE3SUMS lists exactly the entries present. It
// returns the archive's FORMAT. A damaged, truncated or foreign archive
// gives an error wrapping [ErrInvalid] that names the entry at fault.
func Verify(r io.Reader) (Info, error) {
	return read(r, nil, nil)
}

// read reads and verifies an archive. It calls onInfo (when not nil)
// with the FORMAT before any database file, and onFile (when not nil) with
// each database file's name (a safe base name) and contents; what onFile
// does not read is read for it. The checksums come last: whatever onFile
// wrote is only trustworthy once read returns nil.
func read(r io.Reader, onInfo func(Info) error, onFile func(name string, r io.Reader) error) (Info, error) {
	tr := tar.NewReader(r)
	var info Info
	var seen []entry
	dup := map[string]bool{}
	var files int
	var total int64
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return info, invalid("", "the archive ends before %s (truncated)", sumsEntry)
		}
		if err != nil {
			return info, invalid("", "after %d entries: %v", i, err)
		}
		path, ok := strings.CutPrefix(hdr.Name, backupRoot)
		if !ok {
			return info, invalid("", "entry %q is outside %s", truncate(hdr.Name, 64), backupRoot)
		}
		// (The reader reports the old '\x00' type of regular files as
		// TypeReg too.)
		if hdr.Typeflag != tar.TypeReg {
			return info, invalid(path, "is not a regular file")
		}
		// Plain USTAR headers, as writeArchive writes them: no PAX or GNU
		// extensions, whose sparse files could expand a small archive
		// into any amount of zeros.
		if hdr.Format != tar.FormatUSTAR {
			return info, invalid(path, "has a %v header; backups are USTAR", hdr.Format)
		}
		if hdr.Size < 0 {
			return info, invalid(path, "has a negative size")
		}
		var name string
		switch {
		case i == 0 && path != formatEntry:
			return info, invalid(path, "is the first entry; %s must be", formatEntry)
		case i == 0:
		case path == sumsEntry:
		case strings.HasPrefix(path, dbPrefix):
			name = path[len(dbPrefix):]
			if err := checkName(name); err != nil {
				return info, invalid(truncate(path, 64), "%v", err)
			}
			if dup[name] {
				return info, invalid(path, "appears twice")
			}
			dup[name] = true
			files++
			total += hdr.Size
			if files > info.Files || total > info.Bytes {
				return info, invalid(path, "is beyond the %d files of %d bytes that %s announces", info.Files, info.Bytes, formatEntry)
			}
		default:
			return info, invalid(truncate(path, 64), "is not part of a backup")
		}

		if path == formatEntry || path == sumsEntry {
			limit := int64(maxFormatBytes)
			if path == sumsEntry {
				limit = maxSumsBytes
			}
			if hdr.Size > limit {
				return info, invalid(path, "is %d bytes; the limit is %d", hdr.Size, limit)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return info, invalid(path, "%v", err)
			}
			if path == sumsEntry {
				if err := checkSums(data, seen); err != nil {
					return info, err
				}
				if files != info.Files || total != info.Bytes {
					return info, invalid(formatEntry, "announces %d files of %d bytes; the archive holds %d files of %d bytes", info.Files, info.Bytes, files, total)
				}
				return info, checkEnd(tr, r)
			}
			if info, err = decodeInfo(data); err != nil {
				return info, err
			}
			if onInfo != nil {
				if err := onInfo(info); err != nil {
					return info, err
				}
			}
			seen = append(seen, entry{path: path, sum: blake3.Sum256(data)})
			continue
		}

		h := blake3.New()
		src := &readErr{r: io.TeeReader(tr, h)}
		if onFile != nil {
			if err := onFile(name, src); err != nil {
				if src.err != nil && src.err != io.EOF { // the archive's fault
					return info, invalid(path, "%v", src.err)
				}
				return info, err
			}
		}
		// Whatever onFile left, and the whole file when there is none.
		if _, err := io.CopyBuffer(io.Discard, src, buf); err != nil {
			return info, invalid(path, "%v", err)
		}
		e := entry{path: path}
		h.Sum(e.sum[:0])
		seen = append(seen, e)
	}
}

// readErr remembers its reader's error, so that read can tell a
// damaged archive from a failure of its onFile.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// entry is an entry read from an archive, with its checksum.
type entry struct {
	path string
	sum  [blake3.Size]byte
}

// checkSums checks BLAKE3SUMS against the entries read: the same paths in
// the same order, each with its checksum.
func checkSums(data []byte, seen []entry) error {
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		hexSum, path, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok || !strings.HasSuffix(line, "\n") || len(hexSum) != 2*blake3.Size || strings.ToLower(hexSum) != hexSum {
			return invalid(sumsEntry, "line %d is not \"<64 hex digits>  <path>\"", i+1)
		}
		var sum [blake3.Size]byte
		if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
			return invalid(sumsEntry, "line %d is not \"<64 hex digits>  <path>\"", i+1)
		}
		if i >= len(seen) {
			return invalid(truncate(path, 64), "is listed in %s but not in the archive", sumsEntry)
		}
		if path != seen[i].path {
			return invalid(seen[i].path, "is in the archive but %s line %d names %q", sumsEntry, i+1, truncate(path, 64))
		}
		if sum != seen[i].sum {
			return invalid(path, "does not match its BLAKE3 checksum in %s: the file is damaged", sumsEntry)
		}
	}
	if len(lines) < len(seen) {
		return invalid(seen[len(lines)].path, "is in the archive but not listed in %s", sumsEntry)
	}
	return nil
}

// checkEnd checks that BLAKE3SUMS is the last entry and that nothing but
// zero padding follows the archive's end.
func checkEnd(tr *tar.Reader, r io.Reader) error {
	hdr, err := tr.Next()
	switch {
	case err == nil:
		return invalid(truncate(strings.TrimPrefix(hdr.Name, backupRoot), 64), "follows %s, which must be last", sumsEntry)
	case err != io.EOF:
		return invalid(sumsEntry, "after it: %v", err)
	}
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		if slices.ContainsFunc(buf[:n], func(b byte) bool { return b != 0 }) {
			return invalid("", "data follows the end of the archive")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
	}
}

// checkBackupName accepts the base names a database folder holds, and
// nothing that could leave the folder or surprise a shell: letters,
// digits, '.', '-' and '_', not starting with '.'.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || name[0] == '.' {
		return errors.New("is not a database file name")
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return errors.New("is not a database file name")
		}
	}
	return nil
}
