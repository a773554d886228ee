package server

import (
	"fmt"
	"strings"

	"amaters-server/server/config"
)

// IntegrityReporter is implemented by an [Engine] that verifies its files
// while it runs (the lsm engine: reads check every block, and the
// scrubber of storage.scrub_interval_ms re-reads every table). The server
// asks it at every /health and /metrics request, so it must be cheap.
type IntegrityReporter interface {
	Integrity() Integrity
}

// Integrity is what an engine found wrong with its files since it opened.
type Integrity struct {
	// Damage names every damaged file found (by a read or the
	// scrubber), or is nil. Once set, /health answers 503 until the
	// server restarts (and then refuses to start, or starts clean).
	Damage error
	// Corruptions counts the failed checks: amaters_lsm_corruptions_total.
	Corruptions uint64
	// LostFound is the number of files in LostFoundIn: files recovery
	// found unlisted and moved aside rather than delete.
	LostFound   int
	LostFoundIn string
	// ScrubPasses counts the scrubber's finished passes.
	ScrubPasses uint64
}

// integrity returns the engine's report, or a zero one for an engine that
// has none (or before storage is open).
func (s *Server) integrity() Integrity {
	p := s.eng.Load()
	if p == nil {
		return Integrity{}
	}
	if r, ok := (*p).(IntegrityReporter); ok {
		return r.Integrity()
	}
	return Integrity{}
}

// CheckCommand is the check command line for the storage of c, as the
// start refusals and /health print it.
func CheckCommand(c *config.Config) string {
	cmd := "amaters-server check --data-dir " + shellQuote(c.Server.DataDir)
	if c.Storage.WALDir != "" {
		cmd += " --wal-dir " + shellQuote(c.WALDir())
	}
	return cmd
}

// configFlag is " --config FILE" for a configuration loaded from FILE.
func configFlag(c *config.Config) string {
	if c.File == "" {
		return ""
	}
	return " --config " + shellQuote(c.File)
}

// shellQuote quotes a path for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) {
		return s
	}
	return fmt.Sprintf("'%s'", strings.ReplaceAll(s, "'", `'\''`))
}
