package promtext

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
)

// userHZ is the unit of the CPU times and start time in /proc/self/stat.
// Linux fixes USER_HZ at 100 on every architecture Go supports.
const userHZ = 100

// RegisterProcess registers the process_* families of the Prometheus
// process collector, read from /proc/self at each exposition:
// process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_resident_memory_bytes and
// process_start_time_seconds. Where /proc is unavailable (not Linux), or a
// file cannot be read, the affected families write no sample (only HELP and
// TYPE); a scrape never fails because of them. It panics if any of the
// names is already registered.
func RegisterProcess(r *Registry) {
	p := &procCollector{}
	start, startOK := processStartTime()
	r.newFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter",
		func(gen uint64) (float64, bool) { s, ok := p.stat(gen); return s.cpuSeconds, ok })
	r.newFunc("process_open_fds", "Number of open file descriptors.", "gauge",
		func(uint64) (float64, bool) { return openFDs() })
	r.newFunc("process_max_fds", "Maximum number of open file descriptors.", "gauge",
		func(uint64) (float64, bool) { return maxFDs() })
	r.newFunc("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge",
		func(gen uint64) (float64, bool) { s, ok := p.stat(gen); return s.vsize, ok })
	r.newFunc("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
		func(gen uint64) (float64, bool) { s, ok := p.stat(gen); return s.rss, ok })
	r.newFunc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge",
		func(uint64) (float64, bool) { return start, startOK })
}

// procCollector reads /proc/self/stat once per exposition. Its fields are
// guarded by the registry's renderMu, under which the callbacks run.
type procCollector struct {
	gen  uint64
	last procStat
	ok   bool
	buf  []byte
}

type procStat struct {
	cpuSeconds float64 // utime + stime
	vsize      float64 // bytes
	rss        float64 // bytes
	startTicks float64 // clock ticks after boot
}

func (p *procCollector) stat(gen uint64) (procStat, bool) {
	if p.gen != gen || gen == 0 {
		p.gen = gen
		p.last, p.ok = readProcStat(&p.buf)
	}
	return p.last, p.ok
}

// readProcStat parses /proc/self/stat into a reused buffer.
func readProcStat(buf *[]byte) (procStat, bool) {
	b, err := readFileInto(*buf, "/proc/self/stat")
	*buf = b
	if err != nil {
		return procStat{}, false
	}
	return parseProcStat(b)
}

// parseProcStat parses the content of /proc/PID/stat (proc(5)). The command
// name in parentheses may contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	// Fields after ")": field 3 (state) is index 0, so field k is k-3.
	var f [22][]byte
	n := 0
	for field := range bytes.FieldsSeq(b[i+1:]) {
		if n == len(f) {
			break
		}
		f[n] = field
		n++
	}
	if n < len(f) {
		return procStat{}, false
	}
	num := func(k int) float64 {
		v, err := strconv.ParseUint(string(f[k-3]), 10, 64)
		if err != nil {
			return math.NaN()
		}
		return float64(v)
	}
	s := procStat{
		cpuSeconds: (num(14) + num(15)) / userHZ,
		startTicks: num(22),
		vsize:      num(23),
		rss:        num(24) * float64(os.Getpagesize()),
	}
	if math.IsNaN(s.cpuSeconds) || math.IsNaN(s.vsize) || math.IsNaN(s.rss) || math.IsNaN(s.startTicks) {
		return procStat{}, false
	}
	return s, true
}

// processStartTime returns the process start time in seconds since the
// epoch: boot time (btime in /proc/stat) plus the start ticks.
func processStartTime() (float64, bool) {
	var buf []byte
	s, ok := readProcStat(&buf)
	if !ok {
		return 0, false
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(stat) {
		if rest, found := bytes.CutPrefix(line, []byte("btime ")); found {
			bt, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return 0, false
			}
			return float64(bt) + s.startTicks/userHZ, true
		}
	}
	return 0, false
}

// openFDs counts the entries of /proc/self/fd, including the one used to
// read it, as the Prometheus process collector does.
func openFDs() (float64, bool) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	return float64(len(names)), true
}

// maxFDs returns the soft limit on open files from /proc/self/limits
// ("unlimited" is +Inf).
func maxFDs() (float64, bool) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		rest, found := bytes.CutPrefix(line, []byte("Max open files"))
		if !found {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		if string(fields[0]) == "unlimited" {
			return math.Inf(1), true
		}
		v, err := strconv.ParseUint(string(fields[0]), 10, 64)
		return float64(v), err == nil
	}
	return 0, false
}

// readFileInto reads a whole (small, /proc) file into buf[:0].
func readFileInto(buf []byte, name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// RegisterGo registers Go runtime families read from [runtime/metrics] once
// per exposition: go_goroutines, go_threads, go_gomaxprocs, go_info{version},
// go_gc_cycles_total, go_gc_pause_cpu_seconds_total,
// go_memstats_alloc_bytes_total, go_memstats_heap_alloc_bytes,
// go_memstats_heap_objects, go_memstats_next_gc_bytes and
// go_memstats_sys_bytes. Families whose runtime metric this Go version lacks
// are not registered. It panics if any of the names is already registered.
func RegisterGo(r *Registry) {
	r.newFunc("go_goroutines", "Number of goroutines that currently exist.", "gauge",
		func(uint64) (float64, bool) { return float64(runtime.NumGoroutine()), true })
	info := newDesc("go_info", "Information about the Go environment.", "gauge", []string{"version"})
	r.register("go_info", nil, &funcFamily{
		d:      info,
		prefix: samplePrefix(nil, "go_info", info.labels, []string{runtime.Version()}),
		fn:     func(uint64) (float64, bool) { return 1, true },
	})

	defs := []struct{ name, help, typ, metric string }{
		{"go_threads", "Number of OS threads owned by the Go runtime.", "gauge", "/sched/threads/total:threads"},
		{"go_gomaxprocs", "The current runtime.GOMAXPROCS setting.", "gauge", "/sched/gomaxprocs:threads"},
		{"go_gc_cycles_total", "Completed GC cycles.", "counter", "/gc/cycles/total:gc-cycles"},
		{"go_gc_pause_cpu_seconds_total", "Estimated CPU time spent with the Go world stopped by the GC.", "counter", "/cpu/classes/gc/pause:cpu-seconds"},
		{"go_memstats_alloc_bytes_total", "Total bytes allocated on the heap.", "counter", "/gc/heap/allocs:bytes"},
		{"go_memstats_heap_alloc_bytes", "Heap bytes occupied by objects, live or not yet swept.", "gauge", "/memory/classes/heap/objects:bytes"},
		{"go_memstats_heap_objects", "Objects on the heap, live or not yet swept.", "gauge", "/gc/heap/objects:objects"},
		{"go_memstats_next_gc_bytes", "Heap size target of the next GC cycle.", "gauge", "/gc/heap/goal:bytes"},
		{"go_memstats_sys_bytes", "Bytes of memory mapped by the Go runtime.", "gauge", "/memory/classes/total:bytes"},
	}
	known := make(map[string]metrics.ValueKind)
	for _, d := range metrics.All() {
		known[d.Name] = d.Kind
	}
	g := &goCollector{}
	for _, d := range defs {
		kind, ok := known[d.metric]
		if !ok || kind != metrics.KindUint64 && kind != metrics.KindFloat64 {
			continue
		}
		i := len(g.samples)
		g.samples = append(g.samples, metrics.Sample{Name: d.metric})
		r.newFunc(d.name, d.help, d.typ, func(gen uint64) (float64, bool) { return g.value(gen, i) })
	}
}

// goCollector reads its runtime metrics once per exposition. Its fields are
// guarded by the registry's renderMu, under which the callbacks run.
type goCollector struct {
	gen     uint64
	samples []metrics.Sample
}

func (g *goCollector) value(gen uint64, i int) (float64, bool) {
	if g.gen != gen || gen == 0 {
		g.gen = gen
		metrics.Read(g.samples)
	}
	switch v := g.samples[i].Value; v.Kind() {
	case metrics.KindUint64:
		return float64(v.Uint64()), true
	case metrics.KindFloat64:
		return v.Float64(), true
	}
	return 0, false
}
