package main

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestRevisionsSurviveSIGKILL: writers run while the server is killed with
// SIGKILL, three times. Every acknowledged write keeps the mod revision it
// was acknowledged with, no revision is given twice, the revision after a
// restart is above every acknowledged one, and an expiry survives.
func TestRevisionsSurviveSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	acked := map[string]uint64{} // key → acknowledged mod revision
	seen := map[uint64]string{}  // revision → key
	var mu sync.Mutex
	var expires string
	for round := range 3 {
		d := startDaemon(t, "--engine", "lsm", "--data-dir", dir)
		base := "http://" + d.api + "/v1/collections/crash/keys/"
		// Everything acknowledged before the kill is there, as it was.
		for k, rev := range acked {
			resp, err := http.Get(base + k)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("ETag") != fmt.Sprintf(`"%d"`, rev) {
				t.Fatalf("round %d: %s: %d %s, acknowledged at revision %d", round, k, resp.StatusCode, resp.Header.Get("ETag"), rev)
			}
		}
		if round == 0 {
			req, _ := http.NewRequest("PUT", base+"ttl?ttl=3600", strings.NewReader("v"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 204 {
				t.Fatalf("PUT with a ttl: %v %v", resp, err)
			}
			resp.Body.Close()
			r, _ := http.Get(base + "ttl")
			r.Body.Close()
			expires = r.Header.Get("Amaters-Expires-At")
		} else {
			r, err := http.Get(base + "ttl")
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != 200 || r.Header.Get("Amaters-Expires-At") != expires || expires == "" {
				t.Fatalf("round %d: the key with a ttl: %d %q, want expiry %q", round, r.StatusCode, r.Header.Get("Amaters-Expires-At"), expires)
			}
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var stopOnce sync.Once
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					req, _ := http.NewRequest("PUT", base+k, bytes.NewReader([]byte(k)))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return // killed
					}
					resp.Body.Close()
					if resp.StatusCode != 204 {
						continue
					}
					rev, err := strconv.ParseUint(strings.Trim(resp.Header.Get("ETag"), `"`), 10, 64)
					if err != nil {
						t.Errorf("ETag %q", resp.Header.Get("ETag"))
						return
					}
					mu.Lock()
					if other, dup := seen[rev]; dup {
						t.Errorf("revision %d given to %s and to %s", rev, other, k)
					}
					seen[rev] = k
					acked[k] = rev
					n := len(acked)
					mu.Unlock()
					if n >= (round+1)*150 {
						stopOnce.Do(func() { close(stop) })
					}
				}
			})
		}
		<-stop
		d.cmd.Process.Kill() // SIGKILL while writers may still be writing
		wg.Wait()
		<-d.exited
	}
	// The next revision is above every one acknowledged.
	d := startDaemon(t, "--engine", "lsm", "--data-dir", dir)
	req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/crash/keys/last", strings.NewReader("v"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	last, _ := strconv.ParseUint(strings.Trim(resp.Header.Get("ETag"), `"`), 10, 64)
	for rev, k := range seen {
		if rev >= last {
			t.Fatalf("revision %d after the restarts, but %s was acknowledged at %d", last, k, rev)
		}
	}
}
