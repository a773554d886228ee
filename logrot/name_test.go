package logrot

import (
	"os"
	"testing"
	"time"
)

// Backup names are internal, so their tests are white-box.

func TestNameFormat(t *testing.T) {
	at := time.Date(2026, 11, 26, 18, 4, 5, 123_999_999, time.UTC)
	ny := time.FixedZone("EST", -5*3600)
	tests := []struct {
		path string
		loc  *time.Location
		b    backup
		want string
	}{
		{"/var/log/server.log", time.UTC, backup{stamp: at}, "server-2026-11-26T18-04-05.123.log"},
		{"server.log", time.UTC, backup{stamp: at, seq: 1}, "server-2026-11-26T18-04-05.123_0001.log"},
		{"server.log", time.UTC, backup{stamp: at, seq: 9999}, "server-2026-11-26T18-04-05.123_9999.log"},
		{"server.log", time.UTC, backup{stamp: at, seq: 12345}, "server-2026-11-26T18-04-05.123_12345.log"},
		{"server.log", time.UTC, backup{stamp: at, kind: gzipped}, "server-2026-11-26T18-04-05.123.log.gz"},
		{"server.log", time.UTC, backup{stamp: at, seq: 2, kind: partial}, "server-2026-11-26T18-04-05.123_0002.log.gz.tmp"},
		{"server.log", ny, backup{stamp: at}, "server-2026-11-26T13-04-05.123.log"},
		{"audit", time.UTC, backup{stamp: at}, "audit-2026-11-26T18-04-05.123"},
		{"a.b.json", time.UTC, backup{stamp: at}, "a.b-2026-11-26T18-04-05.123.json"},
		{"x.gz", time.UTC, backup{stamp: at, kind: gzipped}, "x-2026-11-26T18-04-05.123.gz.gz"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			n := newNamer(tc.path, tc.loc)
			if got := n.format(tc.b); got != tc.want {
				t.Fatalf("format = %q, want %q", got, tc.want)
			}
			b, ok := n.parse(tc.want)
			if !ok || !b.stamp.Equal(tc.b.stamp.Truncate(time.Millisecond)) || b.seq != tc.b.seq || b.kind != tc.b.kind {
				t.Errorf("parse = %+v, %v; want %+v", b, ok, tc.b)
			}
		})
	}
}

func TestNameParseRejects(t *testing.T) {
	n := newNamer("server.log", time.UTC)
	for _, name := range []string{
		"server.log",
		"server-.log",
		"server-2026-11-26T18-04-05.123.txt",
		"server-2026-11-26T18-04-05.123.log.bz2",
		"server-2026-11-26T18-04-05.123.log.tmp",
		"server-2026-11-26T18-04-05.123.log.gz.tmp.x",
		"other-2026-11-26T18-04-05.123.log",
		"server-2026-11-26T18-04-05.12.log",
		"server-2026-11-26T18-04-05.1234.log",
		"server-2026-11-26T8-04-05.123.log",
		"server-2026-11-26 18-04-05.123.log",
		"server-2026-11-26T18:04:05.123.log",
		"server-2026-13-26T18-04-05.123.log",
		"server-2026-02-30T18-04-05.123.log",
		"server-2026-11-26T24-00-00.000.log",
		"server-2026-11-26T18-60-05.123.log",
		"server-2026-11-26T18-04-60.123.log",
		"server-+026-11-26T18-04-05.123.log",
		"server-2026-11-26T18-04-05.123_.log",
		"server-2026-11-26T18-04-05.123_1.log",
		"server-2026-11-26T18-04-05.123_001.log",
		"server-2026-11-26T18-04-05.123_0000.log",
		"server-2026-11-26T18-04-05.123_01234.log",
		"server-2026-11-26T18-04-05.123_1234567890.log",
		"server-2026-11-26T18-04-05.123-0001.log",
		"server-2026-11-26T18-04-05.123_0001x.log",
	} {
		if b, ok := n.parse(name); ok {
			t.Errorf("parse(%q) = %+v, want rejection", name, b)
		}
	}
}

// TestNameParseDSTGap: 02:30 did not exist in New York on 2026-03-08, so
// no name carries it.
func TestNameParseDSTGap(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no tz database in CI: %v", err)
		}
		t.Skipf("no tz database: %v", err)
	}
	n := newNamer("server.log", ny)
	if b, ok := n.parse("server-2026-03-08T02-30-00.000.log"); ok {
		t.Errorf("parse of a skipped wall time = %+v", b)
	}
	if _, ok := n.parse("server-2026-03-08T03-30-00.000.log"); !ok {
		t.Error("parse of a valid wall time failed")
	}
}

// FuzzParseName: whatever parse accepts, format gives back unchanged.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"server-2026-11-26T18-04-05.123.log",
		"server-2026-11-26T18-04-05.123_0001.log.gz",
		"server-2026-11-26T18-04-05.123_12345.log.gz.tmp",
		"server-0000-01-01T00-00-00.000.log",
		"server-2026-02-29T18-04-05.123.log",
		"server-2026-11-26T18-04-05.123_01.log",
	} {
		f.Add("server.log", s)
	}
	f.Add("x.gz", "x-2026-11-26T18-04-05.123.gz.gz")
	f.Add("audit", "audit-2026-11-26T18-04-05.123_0001")
	f.Fuzz(func(t *testing.T, path, name string) {
		n := newNamer(path, time.UTC)
		b, ok := n.parse(name)
		if !ok {
			return
		}
		if got := n.format(b); got != name {
			t.Fatalf("format(parse(%q)) = %q", name, got)
		}
	})
}

// FuzzNameRoundTrip: every backup format can write, parse reads back.
func FuzzNameRoundTrip(f *testing.F) {
	f.Add("server.log", int64(1795716245123), uint32(0), uint8(0), false)
	f.Add("server.log", int64(1795716245123), uint32(1), uint8(1), true)
	f.Add("audit", int64(0), uint32(10000), uint8(2), false)
	f.Add("a.b.c", int64(-62135596800000), uint32(9999), uint8(0), true)
	f.Fuzz(func(t *testing.T, path string, milli int64, seq uint32, k uint8, local bool) {
		loc := time.UTC
		if local {
			loc = time.FixedZone("", -(3*3600 + 30*60))
		}
		stamp := time.UnixMilli(milli).In(loc)
		if y := stamp.Year(); y < 0 || y > 9999 {
			return // not representable in four digits
		}
		b := backup{stamp: stamp, seq: int(seq % 1e9), kind: kind(k % 3)}
		n := newNamer(path, loc)
		name := n.format(b)
		got, ok := n.parse(name)
		if !ok || !got.stamp.Equal(b.stamp) || got.seq != b.seq || got.kind != b.kind {
			t.Fatalf("parse(%q) = %+v, %v; want %+v", name, got, ok, b)
		}
	})
}

func TestNextBoundary(t *testing.T) {
	india := time.FixedZone("IST", 5*3600+30*60)
	at := func(s string, loc *time.Location) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		r    Rotation
		t    time.Time
		loc  *time.Location
		want time.Time
	}{
		{"hourly", Hourly, at("2026-11-26 10:20:30.5", time.UTC), time.UTC, at("2026-11-26 11:00:00", time.UTC)},
		{"hourly on the hour", Hourly, at("2026-11-26 10:00:00", time.UTC), time.UTC, at("2026-11-26 11:00:00", time.UTC)},
		{"hourly before midnight", Hourly, at("2026-12-31 23:59:59.999999999", time.UTC), time.UTC, at("2027-01-01 00:00:00", time.UTC)},
		{"hourly half-hour zone", Hourly, at("2026-11-26 10:20:00", india), india, at("2026-11-26 11:00:00", india)},
		{"daily", Daily, at("2026-11-26 10:20:30", time.UTC), time.UTC, at("2026-11-27 00:00:00", time.UTC)},
		{"daily at midnight", Daily, at("2026-11-26 00:00:00", time.UTC), time.UTC, at("2026-11-27 00:00:00", time.UTC)},
		{"daily leap day", Daily, at("2028-02-28 12:00:00", time.UTC), time.UTC, at("2028-02-29 00:00:00", time.UTC)},
		{"daily half-hour zone", Daily, at("2026-11-26 23:00:00", india), india, at("2026-11-27 00:00:00", india)},
		{"daily in UTC from another zone", Daily, at("2026-11-26 23:00:00", india), time.UTC, at("2026-11-27 00:00:00", time.UTC)},
		{"by size has none", BySize, at("2026-11-26 23:00:00", time.UTC), time.UTC, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextBoundary(tc.r, tc.t, tc.loc); !got.Equal(tc.want) {
				t.Errorf("nextBoundary = %v, want %v", got, tc.want)
			}
		})
	}
}
