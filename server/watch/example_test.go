package watch_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"amaters-server/lsm"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

func ExampleHub() {
	db, _ := lsm.Open("db", lsm.Options{FS: lsm.NewMemFS()})
	hub := watch.New(watch.Options{})
	st, _ := store.Open(db, store.Options{OnCommit: hub.Publish, HistoryRevisions: 1000})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/collections/{c}/watch", func(w http.ResponseWriter, r *http.Request) {
		// The server checks read access to {c} first.
		hub.Serve(w, r, st, watch.Request{Collection: r.PathValue("c")})
	})
	srv := httptest.NewServer(mux)

	ctx := context.Background()
	st.Write(ctx, store.Request{Ops: []store.Op{{Kind: store.OpPut, Collection: "users", Key: []byte("ada"), Value: []byte("1815")}}})
	st.Write(ctx, store.Request{Ops: []store.Op{{Kind: store.OpDelete, Collection: "users", Key: []byte("ada")}}})

	resp, _ := http.Get(srv.URL + "/v1/collections/users/watch?from=1")
	br := bufio.NewReader(resp.Body)
	for range 9 { // the start block (the stream starts after revision 0) and two events
		line, _ := br.ReadString('\n')
		fmt.Println(strings.TrimSuffix(line, "\n"))
	}
	resp.Body.Close()

	hub.Close() // first: it ends the streams, which Shutdown waits for
	srv.Close()
	st.Close()
	db.Close()
	// Output:
	// : watching
	// id: 0
	//
	// id: 1
	// event: put
	// data: {"key":"YWRh","value":"MTgxNQ==","revision":1}
	//
	// id: 2
	// event: delete
}
