package logrot_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"amaters-server/logrot"
)

type step struct {
	at   time.Time
	line string // written at at; "" only moves the clock
}

func TestTimeRotation(t *testing.T) {
	ny := loadZone(t, "America/New_York")
	utc := func(s string) time.Time { return mustParse(t, s, time.UTC) }
	est := func(s string) time.Time { return mustParse(t, s, ny) }
	tests := []struct {
		name  string
		opts  logrot.Options // Clock is set by the test
		steps []step         // the clock starts at steps[0].at
		want  map[string]string
	}{
		{
			name: "daily across midnight",
			opts: logrot.Options{Rotation: logrot.Daily},
			steps: []step{
				{utc("2026-11-26 23:59:59.999"), "a"},
				{utc("2026-11-27 00:00:00.000"), "b"},
			},
			want: map[string]string{"server-2026-11-27T00-00-00.000.log": "a", "server.log": "b"},
		},
		{
			name: "daily after a silent day is named after the first midnight",
			opts: logrot.Options{Rotation: logrot.Daily},
			steps: []step{
				{utc("2026-11-26 10:00:00"), "a"},
				{utc("2026-11-28 10:00:00"), "b"},
				{utc("2026-11-28 23:59:59.999"), "c"},
			},
			want: map[string]string{"server-2026-11-27T00-00-00.000.log": "a", "server.log": "bc"},
		},
		{
			name: "hourly",
			opts: logrot.Options{Rotation: logrot.Hourly},
			steps: []step{
				{utc("2026-11-26 10:59:59.999"), "a"},
				{utc("2026-11-26 11:00:00.000"), "b"},
				{utc("2026-11-26 11:30:00"), "c"},
				{utc("2026-11-26 12:00:00.001"), "d"},
			},
			want: map[string]string{
				"server-2026-11-26T11-00-00.000.log": "a",
				"server-2026-11-26T12-00-00.000.log": "bc",
				"server.log":                         "d",
			},
		},
		{
			name: "empty file is not rotated at a boundary",
			opts: logrot.Options{Rotation: logrot.Hourly},
			steps: []step{
				{utc("2026-11-26 10:00:00"), ""},
				{utc("2026-11-26 13:20:00"), "a"},
			},
			want: map[string]string{"server.log": "a"},
		},
		{
			name: "hourly and size",
			opts: logrot.Options{Rotation: logrot.Hourly, MaxSize: 2},
			steps: []step{
				{utc("2026-11-26 10:00:00"), "a"},
				{utc("2026-11-26 10:10:00"), "b"},
				{utc("2026-11-26 10:20:00.5"), "c"},
				{utc("2026-11-26 11:00:00"), "d"},
			},
			want: map[string]string{
				"server-2026-11-26T10-20-00.500.log": "ab",
				"server-2026-11-26T11-00-00.000.log": "c",
				"server.log":                         "d",
			},
		},
		{
			name: "UTC names and boundaries with a New York clock",
			opts: logrot.Options{Rotation: logrot.Daily},
			steps: []step{
				{est("2026-11-26 18:59:59"), "a"},
				{est("2026-11-26 19:00:00"), "b"}, // 00:00 UTC
			},
			want: map[string]string{"server-2026-11-27T00-00-00.000.log": "a", "server.log": "b"},
		},
		{
			name: "local daily across spring forward (23 hour day)",
			opts: logrot.Options{Rotation: logrot.Daily, LocalTime: true},
			steps: []step{
				{est("2026-03-07 23:30:00"), "a"},
				{est("2026-03-08 00:00:00"), "b"},
				{est("2026-03-08 23:59:59.999"), "c"}, // 22h59 after midnight
				{est("2026-03-09 00:00:00"), "d"},
			},
			want: map[string]string{
				"server-2026-03-08T00-00-00.000.log": "a",
				"server-2026-03-09T00-00-00.000.log": "bc",
				"server.log":                         "d",
			},
		},
		{
			name: "local daily across fall back (25 hour day)",
			opts: logrot.Options{Rotation: logrot.Daily, LocalTime: true},
			steps: []step{
				{est("2026-11-01 00:00:00"), "a"},
				{est("2026-11-01 23:59:59.999"), "b"}, // 24h59 after midnight
				{est("2026-11-02 00:00:00"), "c"},
			},
			want: map[string]string{"server-2026-11-02T00-00-00.000.log": "ab", "server.log": "c"},
		},
		{
			name: "local hourly across spring forward",
			opts: logrot.Options{Rotation: logrot.Hourly, LocalTime: true},
			steps: []step{
				{est("2026-03-08 01:59:59"), "a"},
				{est("2026-03-08 03:00:00"), "b"}, // one second later
				{est("2026-03-08 03:59:59"), "c"},
				{est("2026-03-08 04:00:00"), "d"},
			},
			want: map[string]string{
				"server-2026-03-08T03-00-00.000.log": "a",
				"server-2026-03-08T04-00-00.000.log": "bc",
				"server.log":                         "d",
			},
		},
		{
			name: "local hourly across fall back: the repeated hour gets a sequence number",
			opts: logrot.Options{Rotation: logrot.Hourly, LocalTime: true},
			steps: []step{
				{est("2026-11-01 00:30:00"), "a"},
				{est("2026-11-01 01:00:00"), "b"}, // EDT
				{est("2026-11-01 01:30:00"), "c"},
				{est("2026-11-01 01:00:00").Add(time.Hour), "d"}, // 01:00 EST
				{est("2026-11-01 01:30:00").Add(time.Hour), "e"},
				{est("2026-11-01 02:00:00"), "f"},
			},
			want: map[string]string{
				"server-2026-11-01T01-00-00.000.log":      "a",
				"server-2026-11-01T01-00-00.000_0001.log": "bc",
				"server-2026-11-01T02-00-00.000.log":      "de",
				"server.log":                              "f",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := newClock(tc.steps[0].at)
			opts := tc.opts
			opts.Clock = clock.Now
			w, err := logrot.New(filepath.Join(dir, "server.log"), opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				clock.Set(s.at)
				if s.line != "" {
					mustWrite(t, w, s.line)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := contents(t, dir); !equalMaps(got, tc.want) {
				t.Errorf("files = %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestTimeRotationExistingFile: a file last written yesterday is rotated
// by the first write today and named after the midnight that ended it.
func TestTimeRotationExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	writeFile(t, path, []byte("yesterday\n"), 0o600)
	mtime := mustParse(t, "2026-11-25 17:00:00", time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	clock := newClock(mustParse(t, "2026-11-26 09:00:00", time.UTC))
	w := open(t, path, logrot.Options{Rotation: logrot.Daily, Clock: clock.Now})
	mustWrite(t, w, "today\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"server-2026-11-26T00-00-00.000.log": "yesterday\n", "server.log": "today\n"}
	if got := contents(t, dir); !equalMaps(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func mustParse(t *testing.T, s string, loc *time.Location) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
