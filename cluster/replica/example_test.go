package replica_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"amaters-server/cluster/replica"
	"amaters-server/server/store"
)

// A one-member cluster: a guarded write through raft, then a
// linearizable read.
func Example() {
	dir, _ := os.MkdirTemp("", "replica-example")
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := replica.Open(dir, replica.Options{ID: 1, PeerListener: ln,
		InitialMembers: map[uint64]string{1: "http://" + ln.Addr().String()}, TickInterval: 10 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	ctx := context.Background()
	var res store.Result
	for { // the first election takes a few ticks
		res, err = r.Write(ctx, store.Request{Ops: []store.Op{{Kind: store.OpPut, Collection: "users", Key: []byte("42"),
			Value: []byte("ada"), Guard: store.Guard{Kind: store.GuardAbsent}}}})
		if err == nil {
			break
		}
	}
	fmt.Println("written at revision", res.Revision)
	r.Read(ctx, replica.Linearizable, func(st *store.Store) error {
		e, rev, err := st.Get("users", []byte("42"), time.Now())
		fmt.Printf("%s (mod revision %d, read at %d) %v\n", e.Value, e.ModRevision, rev, err)
		return nil
	})
	// Output:
	// written at revision 1
	// ada (mod revision 1, read at 1) <nil>
}
