package promtext_test

import (
	"bufio"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"amaters-server/promtext"
)

// samples returns the unlabelled samples of an exposition by name.
func samples(t *testing.T, out string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("bad sample %q", sc.Text())
		}
		m[name] = v
	}
	return m
}

func TestRegisterProcess(t *testing.T) {
	r := promtext.NewRegistry()
	promtext.RegisterProcess(r)
	out := expose(t, r)
	names := []string{"process_cpu_seconds_total", "process_max_fds", "process_open_fds",
		"process_resident_memory_bytes", "process_start_time_seconds", "process_virtual_memory_bytes"}
	for _, n := range names {
		if !strings.Contains(out, "# TYPE "+n+" ") {
			t.Errorf("family %s missing", n)
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("values are only read on Linux")
	}
	s := samples(t, out)
	now := float64(time.Now().Unix())
	checks := []struct {
		name   string
		ok     bool
		detail string
	}{
		{"process_cpu_seconds_total", s["process_cpu_seconds_total"] >= 0, ">= 0"},
		{"process_open_fds", s["process_open_fds"] >= 3, ">= 3 (stdin, stdout, stderr)"},
		{"process_max_fds", s["process_max_fds"] >= s["process_open_fds"], ">= open fds"},
		{"process_resident_memory_bytes", s["process_resident_memory_bytes"] > 1<<20, "> 1 MiB"},
		{"process_virtual_memory_bytes", s["process_virtual_memory_bytes"] >= s["process_resident_memory_bytes"], ">= resident"},
		{"process_start_time_seconds", now-86400 < s["process_start_time_seconds"] && s["process_start_time_seconds"] <= now+1, "within the last day"},
	}
	for _, c := range checks {
		if _, present := s[c.name]; !present || !c.ok {
			t.Errorf("%s = %v (present %v), want %s", c.name, s[c.name], present, c.detail)
		}
	}
}

func TestRegisterGo(t *testing.T) {
	r := promtext.NewRegistry()
	promtext.RegisterGo(r)
	out := expose(t, r)
	s := samples(t, out)
	if s["go_goroutines"] < 1 {
		t.Errorf("go_goroutines = %v", s["go_goroutines"])
	}
	if want := `go_info{version="` + runtime.Version() + `"} 1`; !strings.Contains(out, want) {
		t.Errorf("missing %s", want)
	}
	for _, n := range []string{"go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "go_gomaxprocs", "go_gc_cycles_total"} {
		if _, ok := s[n]; !ok {
			t.Errorf("%s missing in\n%s", n, out)
		}
	}
	if s["go_memstats_sys_bytes"] < s["go_memstats_heap_alloc_bytes"] {
		t.Errorf("sys %v < heap alloc %v", s["go_memstats_sys_bytes"], s["go_memstats_heap_alloc_bytes"])
	}
}
