package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
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

// reloading tells systemd that a reload starts: RELOADING=1 with the
// CLOCK_MONOTONIC time in µs, which systemd (Type=notify-reload, and
// `systemctl reload` of Type=notify) needs to tell this reload from an
// older one.
func (n notifier) reloading() {
	msg := "RELOADING=1\n"
	if us := monotonicUsec(); us > 0 {
		msg += fmt.Sprintf("MONOTONIC_USEC=%d\n", us)
	}
	n.send(msg + "STATUS=reloading the configuration")
}

// reloaded tells systemd the reload is over: READY=1 always, since the
// server serves either way (a refused reload leaves the previous
// configuration in force), with the outcome in STATUS, which `systemctl
// status` shows.
func (n notifier) reloaded(err error) {
	if err == nil {
		n.send("READY=1\nSTATUS=serving; reloaded the configuration")
		return
	}
	// STATUS is one line.
	why := strings.Join(strings.Fields(err.Error()), " ")
	n.send("READY=1\nSTATUS=serving; reload refused, the previous configuration stays in force: " + why)
}
