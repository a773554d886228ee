package server

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// The notifier reaches an abstract socket named "@name".
func TestNotifyAbstractSocket(t *testing.T) {
	name := "@amaters-review2-" + strconv.Itoa(os.Getpid())
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs on Linux, which has abstract sockets:", err)
		}
		t.Skip("no abstract sockets here:", err)
	}
	defer ln.Close()
	notifier{socket: name, log: discardLog()}.send("READY=1")
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}
