package backup

import (
	"fmt"
	"strings"
	"time"
)

// Progress is how far a backup download or a restore is.
type Progress struct {
	// Done counts the archive bytes read so far.
	Done int64
	// Total is the archive's size in bytes, or -1 when unknown.
	Total int64
}

// Line renders the progress for a terminal: bytes so far, the rate over
// elapsed and, with a known total, the share done and the time left, such
// as "saving 12.0 MiB of 48.0 MiB (25%), 6.0 MiB/s, ETA 6s".
func (p Progress) Line(verb string, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(verb + " " + FormatBytes(p.Done))
	if p.Total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", FormatBytes(p.Total), min(100, p.Done*100/p.Total))
	}
	if elapsed <= 0 {
		return b.String()
	}
	rate := float64(p.Done) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %.1f MiB/s", rate/(1<<20))
	if p.Total > 0 && rate > 0 {
		left := time.Duration(float64(max(0, p.Total-p.Done)) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
	}
	return b.String()
}

// FormatBytes renders a size in bytes, KiB, MiB or GiB with one decimal.
func FormatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
