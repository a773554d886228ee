// Command bare is the baseline of the load check: a plain net/http server
// that answers GET with a fixed 100-byte body and discards PUT bodies, so
// that amaters-server's numbers can be read as a fraction of what net/http
// itself does on the same machine with the same client.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7979", "listen address")
	flag.Parse()
	body := bytes.Repeat([]byte("v"), 100)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		case http.MethodPut:
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})))
}
