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
// middle of a batch: it must reconnect by itself with Last-Event-ID and
// get every event once, with the last event ID the standard says. The
// package's folder (holding node_modules/eventsource) is
// $AMATERS_EVENTSOURCE; CI installs it with
// `npm install --prefix DIR eventsource@3`.
func TestEventSourceClient(t *testing.T) {
	dir := os.Getenv("AMATERS_EVENTSOURCE")
	node, err := exec.LookPath("node")
	if dir == "" || err != nil {
		t.Skip("set AMATERS_EVENTSOURCE to a folder with node_modules/eventsource (npm install --prefix DIR eventsource@3), with node on PATH")
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
	e.write(wput("h", "8"))
	want := e.want("", "\xff", r1)
	url := fmt.Sprintf("%s/v1/collections/c/watch?from=%d", e.srv.URL, r1)
	out, err := exec.Command(node, "testdata/eventsource.cjs", dir, url, strconv.Itoa(len(want))).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Opens  int
		Events []struct{ Type, ID, Data string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Opens < 2 {
		t.Errorf("%d connections: the cut did not happen", got.Opens)
	}
	for i, w := range want {
		g := got.Events[i]
		var d struct {
			Key      []byte
			Value    []byte
			Revision uint64
		}
		if err := json.Unmarshal([]byte(g.Data), &d); err != nil {
			t.Fatalf("event %d data %q: %v", i, g.Data, err)
		}
		// Inside the batch the last event ID stays at the revision before
		// it; the batch's last event carries the batch's.
		wantID := w.Revision
		if w.Revision == rb && string(w.Key) != "g" {
			wantID = rb - 1
		}
		if g.Type != w.Kind || string(d.Key) != string(w.Key) || string(d.Value) != string(w.Value) ||
			d.Revision != w.Revision || g.ID != strconv.FormatUint(wantID, 10) {
			t.Fatalf("event %d: %+v, want %s %s=%s at %d with last event id %d", i, g, w.Kind, w.Key, w.Value, w.Revision, wantID)
		}
	}
}
