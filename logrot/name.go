package logrot

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Backup names. For the log file dir/server.log a backup is
//
//	server-2026-11-26T18-04-05.123.log        rotated out at that millisecond
//	server-2026-11-26T18-04-05.123_0001.log   the next one in the same millisecond
//	server-2026-11-26T18-04-05.123.log.gz     compressed
//	server-2026-11-26T18-04-05.123.log.gz.tmp compression in progress
//
// that is: the base name without its extension, "-", the stamp, an optional
// "_" and sequence number (at least four digits, never 0), the extension,
// then ".gz" or ".gz.tmp". The stamp is in UTC, or in the Writer's location
// with Options.LocalTime. Names sort by time with a plain byte comparison
// (ls, sort.Strings) as long as fewer than 10000 rotations share a
// millisecond; the Writer itself orders backups by the parsed (stamp,
// sequence), so it is never confused by that.
//
// The whole scheme is part of the on-disk format; never change it: backups
// named any other way are no longer recognised, so never pruned.
const (
	stampLayout = "2006-01-02T15-04-05.000"
	stampLen    = len(stampLayout)
	seqSep      = '_'
	seqWidth    = 4
	gzSuffix    = ".gz"
	tmpSuffix   = ".gz.tmp"
)

// kind tells the form a backup file is in.
type kind uint8

const (
	plain   kind = iota // as rotated out
	gzipped             // compressed, complete
	partial             // compression in progress or interrupted
)

// suffix returns what kind k adds after the log extension.
func (k kind) suffix() string {
	switch k {
	case gzipped:
		return gzSuffix
	case partial:
		return tmpSuffix
	}
	return ""
}

// namer builds and parses the backup names of one log file.
// It is immutable and safe for concurrent use.
type namer struct {
	prefix string         // base name without extension, then "-"
	ext    string         // extension of the log file with its dot; may be empty
	loc    *time.Location // location of the stamps
}

func newNamer(logPath string, loc *time.Location) namer {
	base := filepath.Base(logPath)
	ext := filepath.Ext(base)
	return namer{prefix: strings.TrimSuffix(base, ext) + "-", ext: ext, loc: loc}
}

// backup is a parsed backup name.
type backup struct {
	stamp time.Time // millisecond precision, in namer.loc
	seq   int       // 0 for the first backup of a millisecond
	kind  kind
}

// format returns the name of backup b. The stamp is truncated to the
// millisecond; years outside 0..9999 do not round trip.
func (n namer) format(b backup) string {
	buf := make([]byte, 0, len(n.prefix)+stampLen+1+seqWidth+len(n.ext)+len(tmpSuffix))
	buf = append(buf, n.prefix...)
	buf = b.stamp.In(n.loc).AppendFormat(buf, stampLayout)
	if b.seq > 0 {
		buf = append(buf, seqSep)
		for w := 10; w < 10000; w *= 10 {
			if b.seq < w {
				buf = append(buf, '0') // pad to seqWidth digits
			}
		}
		buf = strconv.AppendInt(buf, int64(b.seq), 10)
	}
	buf = append(buf, n.ext...)
	buf = append(buf, b.kind.suffix()...)
	return string(buf)
}

// parse reports whether name is a backup of this log file and returns it.
// It accepts exactly the names format produces: parse(format(b)) == b and
// format(parse(s)) == s.
func (n namer) parse(name string) (backup, bool) {
	rest, ok := strings.CutPrefix(name, n.prefix)
	if !ok {
		return backup{}, false
	}
	// Longest suffix first, so that "x.gz.gz" is a compressed backup of
	// "x.gz" and not a plain one with a bad stamp.
	for _, k := range [...]kind{partial, gzipped, plain} {
		mid, ok := strings.CutSuffix(rest, n.ext+k.suffix())
		if !ok {
			continue
		}
		if b, ok := n.parseMiddle(mid); ok {
			b.kind = k
			return b, true
		}
	}
	return backup{}, false
}

// parseMiddle parses stamp[_seq].
func (n namer) parseMiddle(s string) (backup, bool) {
	if len(s) < stampLen {
		return backup{}, false
	}
	t, ok := parseStamp(s[:stampLen], n.loc)
	if !ok {
		return backup{}, false
	}
	b := backup{stamp: t}
	if s = s[stampLen:]; s == "" {
		return b, true
	}
	if s[0] != seqSep {
		return backup{}, false
	}
	digits := s[1:]
	// Canonical: at least seqWidth digits, no zero padding beyond that, not
	// 0, and small enough to never overflow.
	if len(digits) < seqWidth || len(digits) > 9 || (len(digits) > seqWidth && digits[0] == '0') {
		return backup{}, false
	}
	seq, ok := atoi(digits)
	if !ok || seq == 0 {
		return backup{}, false
	}
	b.seq = seq
	return b, true
}

// parseStamp parses exactly stampLayout. Unlike time.Parse it rejects
// one-digit hours and values that time.Date would normalise (month 13,
// 25:00, a wall time skipped by a daylight-saving change), so only
// canonical stamps are accepted.
func parseStamp(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != stampLen || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != '-' || s[16] != '-' || s[19] != '.' {
		return time.Time{}, false
	}
	var f [7]int
	for i, span := range [...][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 23}} {
		v, ok := atoi(s[span[0]:span[1]])
		if !ok {
			return time.Time{}, false
		}
		f[i] = v
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*int(time.Millisecond), loc)
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	if y != f[0] || int(mo) != f[1] || d != f[2] || h != f[3] || mi != f[4] || sec != f[5] {
		return time.Time{}, false
	}
	return t, true
}

// atoi parses a non-empty string of ASCII digits (at most 9 of them).
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
