package lsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
)

// CheckOptions configure Check. The zero value checks a database whose
// logs are in its own folder, on the operating system's file system.
type CheckOptions struct {
	// WALDir is the folder of the write-ahead logs, as given to Open in
	// Options.WALDir; "" means the database folder.
	WALDir string
	// FS holds the files; nil means the operating system's file system.
	FS FS
}

// CheckReport is what Check found. Its JSON form is what a command-line
// check prints with --format json.
type CheckReport struct {
	Dir    string `json:"dir"`
	WALDir string `json:"wal_dir"`
	// Manifest is the path of the manifest CURRENT names ("" if none is
	// readable) and Format its format version (1: release 0.2).
	Manifest string `json:"manifest"`
	Format   int    `json:"format"`
	// Tables, TableBytes and TableEntries count the tables the manifest
	// lists that were read, their bytes and their entries.
	Tables       int    `json:"tables"`
	TableBytes   int64  `json:"table_bytes"`
	TableEntries uint64 `json:"table_entries"`
	// Logs, LogBytes, LogBatches and LogEntries count the logs recovery
	// would replay, their bytes, and the batches and operations in them.
	Logs       int    `json:"logs"`
	LogBytes   int64  `json:"log_bytes"`
	LogBatches uint64 `json:"log_batches"`
	LogEntries uint64 `json:"log_entries"`
	// Findings lists damage, then notes, each in the order found.
	Findings []Finding `json:"findings"`
}

// Finding is one thing Check found.
type Finding struct {
	// File is the full path of the file concerned.
	File string `json:"file"`
	// Offset is the byte offset in File where it was found, or -1 when it
	// concerns the file as a whole (missing, of the wrong size, another
	// file).
	Offset int64 `json:"offset"`
	// Damage is true for damage: Open refuses the database, or a read of
	// the data would fail. False marks a note: something Open handles by
	// itself (a torn log tail it cuts, a torn last manifest edit it
	// drops, an obsolete file it deletes, an orphan it moves to
	// lost+found).
	Damage  bool   `json:"damage"`
	Message string `json:"message"`
}

// Damaged reports whether the report holds any damage.
func (r *CheckReport) Damaged() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Damage })
}

// Check verifies a stopped database without changing anything: it never
// creates, writes, renames or deletes a file. It runs the checks of Open
// (see the package documentation, "What Open verifies") and more: it
// reads every block of every table the manifest lists (checksums, key
// order, bounds, entry count, the whole-file checksum the manifest
// recorded), replays the logs recovery would replay, decoding every
// batch, and lists the files Open would delete or move aside. Without a
// readable manifest it still verifies every table and log it finds.
//
// Damage is reported in the CheckReport, not as an error: Check returns
// an error only when it could not check, among others a *LockedError when
// a process holds the database, whose files change under it.
func Check(dir string, opts CheckOptions) (*CheckReport, error) {
	fs := opts.FS
	if fs == nil {
		fs = osFS{}
	}
	dir = filepath.Clean(dir)
	walDir := dir
	if opts.WALDir != "" {
		walDir = filepath.Clean(opts.WALDir)
	}
	r := &CheckReport{Dir: dir, WALDir: walDir}
	for _, d := range uniqueDirs(dir, walDir) {
		if _, err := fs.Stat(d); err != nil {
			return nil, fmt.Errorf("lsm: check: %w", err)
		}
		if err := probeLock(fs, filepath.Join(d, lockName)); err != nil {
			return nil, err
		}
	}
	dirNames, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("lsm: check: list dir: %w", err)
	}
	walNames, err := fs.List(walDir)
	if err != nil {
		return nil, fmt.Errorf("lsm: check: list wal dir: %w", err)
	}
	c := &checker{fs: fs, r: r, dir: dir, walDir: walDir}

	st, err := readManifest(fs, dir)
	switch {
	case errors.Is(err, errNoCurrent):
		if err := checkNoData(fs, dir, walDir); err != nil {
			c.damage(err)
		} else if !slices.ContainsFunc(dirNames, func(n string) bool { t, _ := parseName(n); return t == typeManifest }) {
			return nil, fmt.Errorf("lsm: check: %s holds no database (no CURRENT, no manifest, no data)", dir)
		}
		c.unlisted(dirNames, walNames)
		return c.done(), nil
	case errors.Is(err, ErrFormat):
		return nil, err
	case errors.Is(err, ErrCorruption):
		c.damage(err)
		c.unlisted(dirNames, walNames)
		return c.done(), nil
	case err != nil:
		return nil, fmt.Errorf("lsm: check: %w", err)
	}
	r.Manifest, r.Format = st.manifestPath, st.format
	if st.tornTail != nil {
		c.note(st.manifestPath, st.tornTail.Offset,
			"the last edit is torn (a crash while it was written); Open drops it, unless a file the state before it names is missing or damaged (reported apart)")
	}

	identityOK := true
	if walDir != dir {
		var id []byte
		if st.format == 1 {
			if id, err = upgradeID(fs, st); err != nil {
				return nil, fmt.Errorf("lsm: check: %w", err)
			}
		} else {
			id = st.dbID
		}
		var write bool
		if identityOK, write, err = checkWALDir(fs, walDir, walNames, st, false, id); err != nil {
			c.damage(err)
		} else if write {
			c.note(filepath.Join(walDir, identityName), -1, "the log folder has no IDENTITY yet; Open writes it")
		}
	}
	plans, problems := planLogs(fs, walDir, st, walNames, identityOK)
	found := len(r.Findings)
	for _, p := range problems {
		c.damage(p)
	}
	live := map[uint64]bool{}
	for _, files := range st.v.levels {
		for _, f := range files {
			live[f.num] = true
			c.table(f)
		}
	}
	for _, p := range plans {
		c.log(p)
	}
	if len(r.Findings) > found {
		c.damage(withManifest(st, nil)[0])
	}

	// What Open would clean up.
	planned := map[uint64]bool{}
	for _, p := range plans {
		planned[p.num] = true
	}
	for _, n := range dirNames {
		path := filepath.Join(dir, n)
		switch t, num := parseName(n); {
		case t == typeTemp:
			c.note(path, -1, "temporary file of an unfinished write; Open deletes it")
		case t == typeManifest && num < st.manifestNum:
			c.note(path, -1, "older manifest; Open deletes it")
		case t == typeManifest && num > st.manifestNum:
			c.note(path, -1, "manifest newer than the one CURRENT names; Open moves it to lost+found")
		case t == typeTable && !live[num] && (st.deleted[num] || num >= st.editNextFileNum):
			c.note(path, -1, "table no longer or never part of the database; Open deletes it")
		case t == typeTable && !live[num]:
			c.note(path, -1, "table the manifest does not list; Open moves it to lost+found")
		}
	}
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL && !planned[num] {
			if num < st.logNum {
				c.note(filepath.Join(walDir, n), -1, "obsolete log; Open deletes it")
			} else if empty, err := logIsEmpty(fs, filepath.Join(walDir, n)); err == nil && empty {
				c.note(filepath.Join(walDir, n), -1, "empty log the manifest does not list; Open deletes it")
			}
		}
	}
	c.lostFound()
	return c.done(), nil
}

// checker collects a CheckReport.
type checker struct {
	fs          FS
	r           *CheckReport
	dir, walDir string
	notes       []Finding
}

func (c *checker) damage(err error) {
	for _, e := range flatten(err) {
		f := Finding{Offset: -1, Damage: true, Message: e.Error()}
		var ce *CorruptionError
		if errors.As(e, &ce) {
			f.File, f.Offset, f.Message = ce.File, ce.Offset, ce.Err.Error()
		}
		c.r.Findings = append(c.r.Findings, f)
	}
}

// flatten splits errors joined with errors.Join into their parts. A
// *CorruptionError, which unwraps to ErrCorruption and its cause, is one
// part.
func flatten(err error) []error {
	if _, ok := err.(*CorruptionError); ok {
		return []error{err}
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func (c *checker) note(file string, off int64, msg string) {
	c.notes = append(c.notes, Finding{File: file, Offset: off, Message: msg})
}

func (c *checker) done() *CheckReport {
	c.r.Findings = append(c.r.Findings, c.notes...)
	if c.r.Findings == nil {
		c.r.Findings = []Finding{}
	}
	return c.r
}

// table verifies a table the manifest lists, block by block.
func (c *checker) table(f *fileMeta) {
	path := filepath.Join(c.dir, tableName(f.num))
	var size int64
	st, err := c.fs.Stat(path)
	if err == nil {
		size = st.Size()
	}
	if err := checkTableSize(path, f, size, err); err != nil {
		c.damage(err)
		return
	}
	file, err := c.fs.Open(path)
	if err != nil {
		c.damage(fmt.Errorf("open table: %w", err))
		return
	}
	defer file.Close()
	n, err := verifyTable(path, file, size, f, true)
	c.r.Tables++
	c.r.TableBytes += size
	c.r.TableEntries += n
	if err != nil {
		c.damage(err)
	}
}

// log replays a log read-only, decoding every batch.
func (c *checker) log(p logPlan) {
	data, err := readFile(c.fs, p.path)
	if err != nil {
		c.damage(fmt.Errorf("read log: %w", err))
		return
	}
	c.r.Logs++
	c.r.LogBytes += int64(len(data))
	torn, err := scanLog(p, data, func(rec []byte, off int64) error {
		br, err := newBatchReader(rec)
		if err == nil {
			for {
				if _, _, _, ok := br.next(); !ok {
					break
				}
			}
			err = br.err
		}
		if err != nil {
			return &CorruptionError{File: p.path, Offset: off, Err: err}
		}
		c.r.LogBatches++
		c.r.LogEntries += uint64(br.count)
		return nil
	})
	switch {
	case err != nil:
		c.damage(err)
	case torn >= 0:
		c.note(p.path, torn, fmt.Sprintf("torn tail of %d bytes, as a crash in the middle of a log write leaves it; Open cuts it", int64(len(data))-torn))
	}
}

// unlisted verifies, when there is no readable manifest, every table and
// log there is, for what each holds on its own.
func (c *checker) unlisted(dirNames, walNames []string) {
	for _, n := range dirNames {
		if t, _ := parseName(n); t != typeTable {
			continue
		}
		path := filepath.Join(c.dir, n)
		file, err := c.fs.Open(path)
		if err != nil {
			c.damage(fmt.Errorf("open table: %w", err))
			continue
		}
		st, err := file.Stat()
		if err == nil {
			// No manifest to hold it to: its own bounds and no checksum.
			var first, last []byte
			if first, last, err = tableBounds(path, file, st.Size()); err == nil {
				var n uint64
				n, err = verifyTable(path, file, st.Size(), &fileMeta{smallest: first, largest: last}, true)
				c.r.Tables++
				c.r.TableBytes += st.Size()
				c.r.TableEntries += n
			}
		}
		file.Close()
		if err != nil {
			c.damage(err)
		}
	}
	var logs []logPlan
	for _, n := range walNames {
		if t, num := parseName(n); t == typeWAL {
			logs = append(logs, logPlan{num: num, path: filepath.Join(c.walDir, n)})
		}
	}
	if len(logs) > 0 {
		logs[len(logs)-1].newest = true
	}
	for _, p := range logs {
		c.log(p)
	}
}

// lostFound notes what lost+found holds.
func (c *checker) lostFound() {
	lf := filepath.Join(c.dir, lostFoundName)
	names, err := c.fs.List(lf)
	if err != nil || len(names) == 0 {
		return
	}
	c.note(lf, -1, fmt.Sprintf("%d files an earlier Open moved aside (not needed to serve the database): inspect and remove them", len(names)))
}
