package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"amaters-server/lsm"
	"amaters-server/server"
)

// errDamaged is check's result for a database with damage: the report,
// already printed, says what (exit 1).
var errDamaged = fmt.Errorf("%w: damage found", errReported)

// cmdCheck verifies a stopped lsm database offline and read-only (package
// lsm's Check): every file, every block checksum, the manifest against
// the files and logs. It prints a report, human or JSON, and returns nil
// for a clean database (exit 0), errDamaged for damage (exit 1), another
// error when it could not check (exit 1: a running server holds the
// folder, or it holds no database), and a usageError for a bad command
// line (exit 2).
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "--data-dir DIR [--wal-dir DIR] [--format human|json]")
	dataDir := fs.String("data-dir", "", "data `folder` of a stopped server (server.data_dir)")
	walDir := fs.String("wal-dir", "", "write-ahead log `folder` (storage.wal_dir; default DIR/wal)")
	format := fs.String("format", "human", "output `format`: human or json")
	if done, err := parseFlags(fs, args, stdout, stderr); done {
		return err
	}
	if *dataDir == "" {
		return usagef("amaters-server check: --data-dir DIR is required")
	}
	if *format != "human" && *format != "json" {
		return usagef("amaters-server check: --format must be human or json")
	}
	if *walDir == "" {
		*walDir = filepath.Join(*dataDir, "wal")
	}
	fail := func(err error) error { return fmt.Errorf("amaters-server check: nothing checked: %w", err) }
	if err := server.DataDirHolder(*dataDir); err != nil {
		return fail(err)
	}
	dbDir := filepath.Join(*dataDir, "db")
	if _, err := os.Stat(dbDir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Errorf("%s holds no lsm database (no folder db): is it a data folder? (storage.engine = memory keeps nothing on disk)", *dataDir))
		}
		return fail(err)
	}
	opts := lsm.CheckOptions{WALDir: *walDir}
	noWALDir := false
	if _, err := os.Stat(*walDir); errors.Is(err, os.ErrNotExist) {
		// A database restored from a backup has no log folder until its
		// first start creates it.
		noWALDir = true
		opts.FS = noWALDirFS{walDir: filepath.Clean(*walDir), like: dbDir}
	}
	r, err := lsm.Check(dbDir, opts)
	if err != nil {
		return fail(err)
	}
	if noWALDir {
		r.Findings = append(r.Findings, lsm.Finding{File: filepath.Clean(*walDir), Offset: -1,
			Message: "the log folder does not exist (as after a restore); the next start creates it"})
	}
	if *format == "json" {
		if r.Findings == nil {
			r.Findings = []lsm.Finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*lsm.CheckReport
			Damaged bool `json:"damaged"`
		}{r, r.Damaged()}); err != nil {
			return err
		}
	} else {
		printCheckReport(stdout, r)
	}
	if r.Damaged() {
		return errDamaged
	}
	return nil
}

// printCheckReport writes the human form of a check report.
func printCheckReport(w io.Writer, r *lsm.CheckReport) {
	manifest := "no readable manifest"
	if r.Manifest != "" {
		manifest = fmt.Sprintf("manifest %s, format %d", filepath.Base(r.Manifest), r.Format)
	}
	fmt.Fprintf(w, "database %s (%s), logs in %s\n", r.Dir, manifest, r.WALDir)
	fmt.Fprintf(w, "  tables: %d, %d bytes, %d entries\n", r.Tables, r.TableBytes, r.TableEntries)
	fmt.Fprintf(w, "  logs:   %d, %d bytes, %d batches, %d operations\n", r.Logs, r.LogBytes, r.LogBatches, r.LogEntries)
	damage := 0
	for _, f := range r.Findings {
		kind := "note  "
		if f.Damage {
			kind = "DAMAGE"
			damage++
		}
		where := f.File
		if f.Offset >= 0 {
			where = fmt.Sprintf("%s at offset %d", f.File, f.Offset)
		}
		if where == "" {
			where = r.Dir
		}
		fmt.Fprintf(w, "%s %s: %s\n", kind, where, f.Message)
	}
	if damage > 0 {
		fmt.Fprintf(w, "DAMAGED: %d damaged files or places. The server refuses to start on this database (or fails the reads that meet the damage). Restore the last good backup into a new folder and start on it (README: Storage integrity).\n", damage)
		return
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(w, "clean: no damage; the notes above are what the server handles by itself at its next start\n")
		return
	}
	fmt.Fprintln(w, "clean: no damage")
}

// noWALDirFS is a read-only view of the operating system's files in which
// the log folder, missing, is an empty folder. Check writes nothing, so
// the writing methods are never called; they fail.
type noWALDirFS struct {
	walDir string
	like   string // an existing folder, whose description stands for it
}

var errReadOnly = errors.New("check is read-only")

func (noWALDirFS) Create(string) (lsm.File, error)       { return nil, errReadOnly }
func (noWALDirFS) Open(name string) (lsm.File, error)    { return os.Open(name) }
func (noWALDirFS) OpenDir(name string) (lsm.File, error) { return os.Open(name) }
func (noWALDirFS) Rename(string, string) error           { return errReadOnly }
func (noWALDirFS) Remove(string) error                   { return errReadOnly }
func (noWALDirFS) MkdirAll(string, os.FileMode) error    { return errReadOnly }
func (noWALDirFS) Lock(string) (io.Closer, error)        { return nil, errReadOnly }

func (f noWALDirFS) Stat(name string) (os.FileInfo, error) {
	if filepath.Clean(name) == f.walDir {
		return os.Stat(f.like)
	}
	return os.Stat(name)
}

func (f noWALDirFS) List(dir string) ([]string, error) {
	if filepath.Clean(dir) == f.walDir {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}
