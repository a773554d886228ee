package server

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// notifier speaks systemd's notify protocol (sd_notify): datagrams such as
// "READY=1" sent to the unix socket named by $NOTIFY_SOCKET, so that a unit
// with Type=notify knows when the server serves, when it stops, and that it
// is alive (WATCHDOG=1 every half of $WATCHDOG_USEC). The zero notifier (no
// socket) does nothing.
type notifier struct {
	socket   string        // "" = not under systemd; "@name" = abstract socket
	watchdog time.Duration // 0 = no watchdog
	log      *slog.Logger
}

// send delivers one state line; failures are logged, never fatal.
func (n notifier) send(state string) {
	if n.socket == "" {
		return
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	if n.socket[0] == '@' {
		addr.Name = "\x00" + n.socket[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		n.log.Warn("systemd notify failed", slog.String("state", state), slog.String("error", err.Error()))
	}
}

// runWatchdog pings the watchdog until ctx ends.
func (n notifier) runWatchdog(ctx context.Context) {
	if n.socket == "" || n.watchdog <= 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.send("WATCHDOG=1")
		}
	}
}
