package lsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The side-by-side comparison (issue 18). Each engine runs the whole
// workload in a process of its own (this test binary, re-executed with
// LSMBENCH_CHILD set), so that one engine's heap, goroutines and page
// cache habits do not weigh on the next; repetitions alternate the
// engines' order; the table reports medians of the repetitions and the
// median of the per-repetition ratios to pebble.
//
//	go test -run TestCompare -timeout 0 ./lsm/ -compare -keys 5000000 -reps 3 -values random
//
// The workload, on one fresh folder per run, with config{Memtable: 64
// MiB, Cache: 64 MiB, Compress: -compression}:
//
//   - fill: -keys distinct keys in random order (16 bytes), each with a
//     distinct 100-byte value: random bytes (incompressible) or JSON-like
//     text (compresses about 2-3x); one writer, no fsync; every Put timed;
//   - settle: Close, which flushes (pebble's and goleveldb's Close do not
//     wait for compactions; ours does not either);
//   - space: the folder's allocated bytes after Close (du);
//   - write amplification: write_bytes of /proc/self/io (all the bytes the
//     process caused to be written to storage) over the user bytes;
//   - readrandom: reopen, then Get min(keys, 1M) distinct existing keys in
//     random order (all hits). With -dropcache (root only; it empties the
//     whole machine's page cache) the caches are dropped before the reopen
//     and the first pass is reported cold, then the same keys are read
//     again warm; without it only the warm pass runs (the page cache holds
//     what the fill wrote);
//   - scan: one full scan;
//   - peak RSS: VmHWM of /proc/self/status at the end.
var (
	compareRun  = flag.Bool("compare", false, "run the side-by-side comparison")
	compareKeys = flag.Int("keys", 1_000_000, "keys to fill")
	compareReps = flag.Int("reps", 3, "repetitions")
	compareVals = flag.String("values", "random", "value kind: random or text")
	compareComp = flag.String("compression", "snappy", "block compression for every engine: snappy or none")
	compareDir  = flag.String("dir", "", "folder for the databases (default: the system's temp folder)")
	compareDrop = flag.Bool("dropcache", false, "drop the page cache before the reads (root; affects the whole machine)")
)

// result is one run of the workload by one engine.
type result struct {
	Engine     string
	FillSec    float64 // fill
	SettleSec  float64 // fill + Close
	P999Micros float64 // Put latency, 99.9th percentile
	MaxMicros  float64 // Put latency, max
	Over10ms   int     // Puts that took 10 ms or more
	SpaceBytes int64
	WriteAmp   float64
	ReadSec    float64
	ColdSec    float64 // the first read pass after dropping the page cache; 0 without -dropcache
	Reads      int
	ScanSec    float64
	Scanned    int
	PeakRSS    int64 // bytes
	// amaters only: the engine's own count of write stalls (waits for a
	// flush or compaction, memtable switches over 1 ms) and their time.
	Stalls   uint64
	StallSec float64
}

func TestMain(m *testing.M) {
	if name := os.Getenv("LSMBENCH_CHILD"); name != "" {
		os.Exit(child(name))
	}
	os.Exit(m.Run())
}

// child runs the workload for one engine and prints its result.
func child(name string) int {
	var p struct {
		Keys     int
		Values   string
		Compress bool
		Dir      string
		Drop     bool
	}
	if err := json.Unmarshal([]byte(os.Getenv("LSMBENCH_PARAMS")), &p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	i := slices.IndexFunc(engines, func(e engine) bool { return e.name == name })
	if i < 0 {
		fmt.Fprintln(os.Stderr, "unknown engine", name)
		return 2
	}
	r, err := workload(engines[i], p.Dir, p.Keys, p.Values, p.Compress, p.Drop)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, _ := json.Marshal(r)
	fmt.Printf("RESULT %s\n", b)
	return 0
}

// latencies is a histogram of durations in buckets ~1.5% wide.
type latencies struct {
	counts []int
	n      int
	max    time.Duration
}

func bucketOf(d time.Duration) int {
	ns := max(float64(d), 1)
	return int(math.Log(ns) / math.Log(1.015))
}

func (l *latencies) add(d time.Duration) {
	b := bucketOf(d)
	if b >= len(l.counts) {
		l.counts = append(l.counts, make([]int, b+1-len(l.counts))...)
	}
	l.counts[b]++
	l.n++
	l.max = max(l.max, d)
}

// quantile returns the upper bound of the bucket holding quantile q.
func (l *latencies) quantile(q float64) time.Duration {
	want := int(math.Ceil(q * float64(l.n)))
	seen := 0
	for b, c := range l.counts {
		if seen += c; seen >= want {
			return time.Duration(math.Pow(1.015, float64(b+1)))
		}
	}
	return l.max
}

// textValue returns a JSON-like value of 100 bytes, distinct per i.
func textValue(rng *rand.Rand, i uint64) []byte {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	tags := []string{"red", "green", "blue", "new", "vip", "beta"}
	v := fmt.Appendf(nil, `{"id":%d,"user":"%s","email":"%s@example.com","score":%d,"tags":["%s","%s"],"active":true}`,
		i, names[rng.IntN(len(names))], names[rng.IntN(len(names))], rng.IntN(1000), tags[rng.IntN(len(tags))], tags[rng.IntN(len(tags))])
	for len(v) < valueSize {
		v = append(v, ' ')
	}
	return v[:valueSize]
}

func workload(e engine, base string, n int, values string, compress, drop bool) (result, error) {
	r := result{Engine: e.name}
	dir, err := os.MkdirTemp(base, "lsmbench-"+e.name+"-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	c := config{Memtable: 64 << 20, Cache: 64 << 20, Compress: compress}
	s, err := e.open(dir, c)
	if err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var lat latencies
	var kb [keySize]byte
	start := time.Now()
	for i := range uint64(n) {
		var v []byte
		if values == "text" {
			v = textValue(rng, i)
		} else {
			v = value(rng)
		}
		k := key(kb[:], scramble(i))
		t0 := time.Now()
		if err := s.put(k, v); err != nil {
			return r, err
		}
		d := time.Since(t0)
		lat.add(d)
		if d >= 10*time.Millisecond {
			r.Over10ms++
		}
	}
	r.FillSec = time.Since(start).Seconds()
	if a, ok := s.(amatersStore); ok {
		m := a.db.Metrics()
		r.Stalls, r.StallSec = m.WriteStalls, m.WriteStallTime.Seconds()
	}
	if err := s.close(); err != nil {
		return r, err
	}
	r.SettleSec = time.Since(start).Seconds()
	r.P999Micros = float64(lat.quantile(0.999)) / 1e3
	r.MaxMicros = float64(lat.max) / 1e3
	r.SpaceBytes = du(dir)
	r.WriteAmp = float64(procIO("write_bytes")) / float64(n*(keySize+valueSize))

	if drop {
		syscall.Sync()
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
			return r, fmt.Errorf("drop the page cache: %w", err)
		}
	}
	if s, err = e.open(dir, c); err != nil {
		return r, err
	}
	defer s.close()
	r.Reads = min(n, 1_000_000)
	// j*step mod n visits distinct keys when step and n are coprime.
	step := uint64(n/2 + 1)
	for gcd(step, uint64(n)) != 1 {
		step++
	}
	readAll := func() (float64, error) {
		start := time.Now()
		for j := range uint64(r.Reads) {
			ok, err := s.get(key(kb[:], scramble(j*step%uint64(n))))
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, fmt.Errorf("%s: key %d missing", e.name, j*step%uint64(n))
			}
		}
		return time.Since(start).Seconds(), nil
	}
	if drop {
		if r.ColdSec, err = readAll(); err != nil {
			return r, err
		}
	}
	if r.ReadSec, err = readAll(); err != nil {
		return r, err
	}
	start = time.Now()
	if r.Scanned, err = s.scan(); err != nil {
		return r, err
	}
	r.ScanSec = time.Since(start).Seconds()
	if r.Scanned != n {
		return r, fmt.Errorf("%s: scan saw %d of %d keys", e.name, r.Scanned, n)
	}
	r.PeakRSS = procStatus("VmHWM") << 10
	return r, nil
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// du returns the bytes allocated to the files under dir.
func du(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					total += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return total
}

// procIO returns a field of /proc/self/io, or 0.
func procIO(field string) int64 { return procField("/proc/self/io", field) }

// procStatus returns a field of /proc/self/status (in kB for memory), or 0.
func procStatus(field string) int64 { return procField("/proc/self/status", field) }

func procField(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			f := strings.Fields(val)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func TestCompare(t *testing.T) {
	if !*compareRun {
		t.Skip("the side-by-side comparison runs with -compare")
	}
	params, _ := json.Marshal(map[string]any{"Keys": *compareKeys, "Values": *compareVals,
		"Compress": *compareComp == "snappy", "Dir": *compareDir, "Drop": *compareDrop})
	byEngine := map[string][]result{}
	for rep := range *compareReps {
		for k := range engines {
			e := engines[(k+rep)%len(engines)] // alternate the order
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "LSMBENCH_CHILD="+e.name, "LSMBENCH_PARAMS="+string(params))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s, repetition %d: %v", e.name, rep, err)
			}
			_, js, ok := strings.Cut(string(out), "RESULT ")
			var r result
			if !ok || json.Unmarshal([]byte(strings.TrimSpace(js)), &r) != nil {
				t.Fatalf("%s: no result in %q", e.name, out)
			}
			t.Logf("rep %d %s: %+v", rep, e.name, r)
			byEngine[e.name] = append(byEngine[e.name], r)
		}
	}
	type metric struct {
		name string
		get  func(r result) float64
	}
	n := float64(*compareKeys)
	metrics := []metric{
		{"fill, keys/s", func(r result) float64 { return n / r.FillSec }},
		{"fill+settle, keys/s", func(r result) float64 { return n / r.SettleSec }},
		{"put p99.9, µs", func(r result) float64 { return r.P999Micros }},
		{"put max, ms", func(r result) float64 { return r.MaxMicros / 1e3 }},
		{"puts ≥ 10 ms", func(r result) float64 { return float64(r.Over10ms) }},
		{"write stalls (amaters' own count)", func(r result) float64 { return float64(r.Stalls) }},
		{"write stall time, s (amaters)", func(r result) float64 { return r.StallSec }},
		{"space, MiB", func(r result) float64 { return float64(r.SpaceBytes) / (1 << 20) }},
		{"write amplification", func(r result) float64 { return r.WriteAmp }},
		{"readrandom, keys/s", func(r result) float64 { return float64(r.Reads) / r.ReadSec }},
		{"readrandom cold (-dropcache), keys/s", func(r result) float64 {
			if r.ColdSec == 0 {
				return 0
			}
			return float64(r.Reads) / r.ColdSec
		}},
		{"scan, keys/s", func(r result) float64 { return float64(r.Scanned) / r.ScanSec }},
		{"peak RSS, MiB", func(r result) float64 { return float64(r.PeakRSS) / (1 << 20) }},
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d keys, %s values, compression %s, %d repetitions (medians; ratio = median of per-repetition amaters/pebble)\n\n",
		*compareKeys, *compareVals, *compareComp, *compareReps)
	sb.WriteString("| metric | amaters | goleveldb | pebble | amaters / pebble |\n|---|---:|---:|---:|---:|\n")
	for _, m := range metrics {
		med := func(name string) float64 {
			var xs []float64
			for _, r := range byEngine[name] {
				xs = append(xs, m.get(r))
			}
			return median(xs)
		}
		var ratios []float64
		for i := range byEngine["amaters"] {
			if p := m.get(byEngine["pebble"][i]); p != 0 {
				ratios = append(ratios, m.get(byEngine["amaters"][i])/p)
			}
		}
		fmt.Fprintf(&sb, "| %s | %.4g | %.4g | %.4g | %.2f |\n", m.name, med("amaters"), med("goleveldb"), med("pebble"), median(ratios))
	}
	t.Log(sb.String())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
