//go:build !linux

package lsm

// mapLog returns f: outside Linux the log is appended with write(2).
func mapLog(f File, size int64) File { return f }

// mappedSize reports that f is not a mapped log: there are none here.
func mappedSize(File) (int64, bool) { return 0, false }

// closeKeepingSize closes a log.
func closeKeepingSize(f File) error { return f.Close() }
