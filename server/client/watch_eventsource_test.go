package client_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"

	"amaters-server/server/watch"
)

// TestEventSourceClient reads a watch with the npm "eventsource" package,
// a WHATWG EventSource no one here wrote, through a connection cut in the
// middle of a batch: it must reconnect by itself with the Last-Event-ID
// of the last whole revision and lose nothing (the cut batch comes again
// whole; dropping repeats by revision gives every event once). The
// package's folder (holding node_modules/eventsource) is
// $AMATERS_EVENTSOURCE; CI installs it with
// `npm install --prefix DIR eventsource@3`.
func TestEventSourceClient(t *testing.T) {
	dir := os.Getenv("AMATERS_EVENTSOURCE")
	node, err := exec.LookPath("node")
	skip := t.Skip
	if os.Getenv("CI") != "" {
		skip = t.Fatal // .ci/run installs it
	}
	if dir == "" || err != nil {
		skip("set AMATERS_EVENTSOURCE to a folder with node_modules/eventsource (npm install --prefix DIR eventsource@3), with node on PATH")
	}
	e := newWatchEnv(t, watch.Options{}, 1000)
	var n atomic.Int32
	e.cut = func() int {
		if n.Add(1) == 1 {
			// Inside the batch's second event (the first stream starts
			// with ": watching", then four single puts of about 80 bytes).
			return 14 + 4*80 + 120
		}
		return 1 << 30
	}
	r1 := e.write(wput("a", "1"))
	e.write(wput("b", "2"))
	e.write(wput("c", "3"))
	e.write(wput("d", "4"))
	rb := e.write(wput("e", "5"), wput("f", "6"), wput("g", "7"))
	last := e.write(wput("h", "8"))
	want := e.want("", "\xff", r1)
	url := fmt.Sprintf("%s/v1/collections/c/watch?from=%d", e.srv.URL, r1)
	out, err := exec.Command(node, "testdata/eventsource.cjs", dir, url, strconv.FormatUint(last, 10)).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Opens  int
		Events []struct {
			Type, ID, Data string
			Conn           int
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Opens < 2 {
		t.Errorf("%d connections: the cut did not happen", got.Opens)
	}
	// A plain EventSource hands over the events of the batch read before
	// the cut, then the whole batch again from the reconnect: at least
	// once, nothing lost. A client drops the repeat by "revision", as here:
	// the first event of a connection restarts its revision.
	type item struct {
		Type     string
		Key      []byte
		Value    []byte
		Revision uint64
	}
	var seq []item
	repeats := 0
	for i, g := range got.Events {
		var d item
		if err := json.Unmarshal([]byte(g.Data), &d); err != nil {
			t.Fatalf("event %d data %q: %v", i, g.Data, err)
		}
		d.Type = g.Type
		if i > 0 && g.Conn != got.Events[i-1].Conn && len(seq) > 0 && d.Revision <= seq[len(seq)-1].Revision {
			if d.Revision != rb {
				t.Fatalf("event %d goes back to revision %d; only the cut batch %d may repeat", i, d.Revision, rb)
			}
			for len(seq) > 0 && seq[len(seq)-1].Revision >= d.Revision {
				seq = seq[:len(seq)-1]
				repeats++
			}
		}
		seq = append(seq, d)
	}
	t.Logf("%d events, %d repeated from the cut batch", len(got.Events), repeats)
	if len(seq) != len(want) {
		t.Fatalf("%d events once repeats are dropped, want %d: %+v", len(seq), len(want), got.Events)
	}
	for i, w := range want {
		d := seq[i]
		if d.Type != w.Kind || string(d.Key) != string(w.Key) || string(d.Value) != string(w.Value) || d.Revision != w.Revision {
			t.Fatalf("event %d: %+v, want %s %s=%s at %d", i, d, w.Kind, w.Key, w.Value, w.Revision)
		}
	}
	// The reconnect asked for what follows the last whole revision, not
	// for what follows the half-read batch. (MessageEvent.lastEventId is
	// not checked: this package gives each event its own id, or "",
	// where WHATWG gives the stream's last one.)
	e.mu.Lock()
	ids := e.lastIDs
	e.mu.Unlock()
	if len(ids) < 2 || ids[0] != "" || ids[1] != strconv.FormatUint(rb-1, 10) {
		t.Fatalf("Last-Event-ID of the connections: %q, want \"\" then %d", ids, rb-1)
	}
}
