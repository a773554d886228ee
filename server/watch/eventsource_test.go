package watch_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"amaters-server/server/watch"
)

// TestEventSource reads a stream with Node's EventSource, a client no one
// here wrote: history then live events, a batch's ops in order, and the
// lastEventId the browser would resume from. Skipped without node ≥ 20.
func TestEventSource(t *testing.T) {
	// Skipped without node outside CI; CI (.ci/run sets CI) installs it
	// and fails here rather than skip.
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("no node")
	}
	if out, err := exec.Command(node, "--experimental-eventsource", "-e", "process.stdout.write(typeof EventSource)").Output(); err != nil || string(out) != "function" {
		skip("node has no EventSource (%s %v)", out, err)
	}
	e := newEnv(t, watch.Options{}, 1000)
	r1 := e.write(put("c", "a", "1"))
	r2 := e.write(put("c", "b", "2"), del("c", "a"))
	cmd := exec.CommandContext(t.Context(), node, "--experimental-eventsource", "testdata/eventsource.js",
		e.srv.URL+"/v1/collections/c/watch?from=1", "4")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	if line, err := br.ReadString('\n'); line != "open\n" {
		t.Fatalf("node said %q %v", line, err)
	}
	r3 := e.write(put("c", "c", "3"))
	out, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node: %v %s", err, out)
	}
	var got []struct {
		Kind, ID string
		Data     struct {
			Key, Value []byte
			Revision   uint64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var lines []string
	for _, g := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s=%s @%d", g.Kind, g.ID, g.Data.Key, g.Data.Value, g.Data.Revision))
	}
	want := []string{
		fmt.Sprintf("put %d a=1 @%d", r1, r1),
		fmt.Sprintf("put %d b=2 @%d", r1, r2), // no id yet: still the previous revision
		fmt.Sprintf("delete %d a= @%d", r2, r2),
		fmt.Sprintf("put %d c=3 @%d", r3, r3),
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("got\n%q\nwant\n%q", lines, want)
	}
}
