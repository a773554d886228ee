package promtext

import (
	"os"
	"testing"
)

// TestParseProcStat checks the field arithmetic of /proc/PID/stat, whose
// command name may hold spaces and parentheses.
func TestParseProcStat(t *testing.T) {
	page := float64(os.Getpagesize())
	tests := []struct {
		name string
		in   string
		want procStat
		ok   bool
	}{
		{
			name: "plain",
			in:   "42 (amaters) S 1 42 42 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 12 0 9000 1234567890 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			want: procStat{cpuSeconds: 4, startTicks: 9000, vsize: 1234567890, rss: 5000 * page},
			ok:   true,
		},
		{
			name: "command with spaces and parens",
			in:   "42 (a) b (c) S 1 42 42 0 -1 4194560 1000 0 0 0 1 2 0 0 20 0 12 0 7 8 9 18446744073709551615\n",
			want: procStat{cpuSeconds: 0.03, startTicks: 7, vsize: 8, rss: 9 * page},
			ok:   true,
		},
		{name: "truncated", in: "42 (x) S 1 42 42 0 -1 4194560 1000 0 0 0 1 2\n"},
		{name: "no parenthesis", in: "42 x S 1"},
		{name: "not a number", in: "42 (x) S 1 42 42 0 -1 4194560 1000 0 0 0 x 2 0 0 20 0 12 0 7 8 9\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseProcStat([]byte(tc.in))
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseProcStat = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
