package logrot_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"amaters-server/logrot"
)

// line is the i-th line of writer g, padded to a length that varies.
func line(g, i int) string {
	return fmt.Sprintf("g%04d i%06d %s\n", g, i, strings.Repeat("-", (g*7+i*13)%16))
}

// readLines parses every file of dir, backups in name order then the
// current file, and returns the (g, i) of each line in order. It fails the
// test on a file over maxSize or a line that is not whole.
func readLines(t *testing.T, dir string, maxSize int64) [][2]int {
	t.Helper()
	var files []string
	for _, name := range names(t, dir) {
		if name != "server.log" {
			files = append(files, name)
		}
	}
	// Byte order is time order only below 10000 rotations per millisecond;
	// beyond, order by the number.
	seqOf := func(name string) int {
		m := backupRE.FindStringSubmatch(name)
		if m == nil {
			t.Fatalf("unexpected file %q", name)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(m[1], "_"))
		return n
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if c := strings.Compare(a[:len("server-2006-01-02T15-04-05.000")], b[:len("server-2006-01-02T15-04-05.000")]); c != 0 {
			return c
		}
		return seqOf(a) - seqOf(b)
	})
	files = append(files, "server.log")
	var out [][2]int
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) > maxSize {
			t.Errorf("%s: %d bytes > MaxSize %d", name, len(data), maxSize)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Errorf("%s: ends in a partial line", name)
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			var g, i int
			var pad string
			n, _ := fmt.Sscanf(sc.Text(), "g%d i%d %s", &g, &i, &pad)
			if n < 2 || sc.Text()+"\n" != line(g, i) {
				t.Fatalf("%s: garbled line %q", name, sc.Text())
			}
			out = append(out, [2]int{g, i})
		}
	}
	return out
}

// TestConcurrentWriters: many goroutines write many lines through a tiny
// MaxSize with a clock that never moves, so thousands of rotations share a
// millisecond. Every line must appear exactly once, whole, in one file, and
// reading the files in name order must give each goroutine's lines in the
// order it wrote them.
func TestConcurrentWriters(t *testing.T) {
	goroutines, lines := 100, 200
	if !testing.Short() {
		goroutines, lines = 200, 300
	}
	testConcurrentWriters(t, goroutines, lines)
}

func testConcurrentWriters(t *testing.T, goroutines, lines int) {
	const maxSize = 4 << 10
	dir := t.TempDir()
	w := open(t, filepath.Join(dir, "server.log"), logrot.Options{MaxSize: maxSize, Clock: newClock(base()).Now})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				s := line(g, i)
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Errorf("Write = %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := w.Stats()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	next := make([]int, goroutines) // next i expected from each goroutine
	var total uint64
	for _, gi := range readLines(t, dir, maxSize) {
		g, i := gi[0], gi[1]
		if g >= goroutines || i != next[g] {
			t.Fatalf("line g%d i%d out of place: expected i%d next", g, i, next[g])
		}
		next[g]++
		total += uint64(len(line(g, i)))
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("goroutine %d: %d lines in the files, wrote %d", g, n, lines)
		}
	}
	files := uint64(len(names(t, dir)))
	if st.BytesWritten != total || st.Rotations != files-1 || st.WriteErrors+st.RotateErrors != 0 {
		t.Errorf("stats = %+v; want %d bytes, %d rotations", st, total, files-1)
	}
}

// TestConcurrentRotateReopenClose races Write, Rotate, Reopen, Stats and
// Close (run it with -race). Every write acknowledged without error is in
// the files exactly once; every write refused with ErrClosed is not.
func TestConcurrentRotateReopenClose(t *testing.T) {
	const writers, lines, maxSize = 8, 400, 1 << 10
	dir := t.TempDir()
	w, err := logrot.New(filepath.Join(dir, "server.log"), logrot.Options{MaxSize: maxSize, Clock: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	acked := make([][]bool, writers)
	var wg sync.WaitGroup
	halfway := make(chan struct{})
	var once sync.Once
	for g := range writers {
		acked[g] = make([]bool, lines)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if i == lines/2 {
					once.Do(func() { close(halfway) })
				}
				_, err := w.Write([]byte(line(g, i)))
				switch {
				case err == nil:
					acked[g][i] = true
				case !errors.Is(err, logrot.ErrClosed):
					t.Errorf("Write: %v", err)
				}
			}
		}()
	}
	closed := make(chan struct{})
	for _, op := range []func() error{w.Rotate, w.Reopen, w.Sync, func() error { w.Stats(); return nil }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				select {
				case <-closed:
					return
				default:
				}
				if err := op(); err != nil && !errors.Is(err, logrot.ErrClosed) {
					t.Errorf("op: %v", err)
					return
				}
			}
		}()
	}
	<-halfway
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	close(closed)
	wg.Wait()

	seen := make([][]bool, writers)
	for g := range seen {
		seen[g] = make([]bool, lines)
	}
	for _, gi := range readLines(t, dir, maxSize) {
		g, i := gi[0], gi[1]
		if seen[g][i] {
			t.Errorf("line g%d i%d twice", g, i)
		}
		seen[g][i] = true
	}
	for g := range writers {
		for i := range lines {
			if seen[g][i] != acked[g][i] {
				t.Errorf("line g%d i%d: in files %v, acknowledged %v", g, i, seen[g][i], acked[g][i])
			}
		}
	}
}
