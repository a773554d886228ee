// Command amaters-server-cluster is the cluster edition of amaters-server
// (API.md §9): every member serves the whole HTTP API of package server,
// over the replicated engine of package member (writes through raft,
// linearizable reads by ReadIndex), with GET /v1/cluster, the membership
// admin, Amaters-Leader and the amaters_cluster_* metrics. It loads the
// product's configuration with its [cluster] section, binds the peer
// port, and runs server.Server until SIGTERM/SIGINT (or the raft node
// stops on a fatal error, which ends it with exit 1). The client commands
// member and cluster talk to a running member's API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clusterconfig "amaters-server/cluster/config"
	"amaters-server/cluster/member"
	"amaters-server/cluster/replica"
	"amaters-server/cluster/transport"
	"amaters-server/server"
	srvconfig "amaters-server/server/config"
)

// version is the cluster edition's version (API.md §9 is 0.4); the
// server it embeds is server.Version.
const version = "0.4.0-dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `usage:
  amaters-server-cluster start [flags]         run this member until SIGTERM/SIGINT
  amaters-server-cluster --config F            same as start --config F
  amaters-server-cluster validate-config --config F [--show]
  amaters-server-cluster version
  amaters-server-cluster cluster status --addr HOST:PORT [--format human|json] [auth flags]
  amaters-server-cluster member list --addr HOST:PORT [--format human|json] [auth flags]
  amaters-server-cluster member add PEER_URL --addr HOST:PORT [auth flags]
  amaters-server-cluster member remove ID --addr HOST:PORT [auth flags]
auth flags: --token, --api-key (or AMATERS_TOKEN, AMATERS_API_KEY), --cacert, --cert, --key, --insecure-skip-verify
`

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"start"}, args...)
	}
	switch args[0] {
	case "start":
		return start(ctx, args[1:], env, stderr)
	case "validate-config":
		fs := flag.NewFlagSet("validate-config", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "configuration file")
		show := fs.Bool("show", false, "print the effective configuration, secrets redacted")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		sc, cc, err := load(*path, env, flags{})
		if err != nil {
			for _, p := range srvconfig.Problems(err) {
				fmt.Fprintln(stdout, p)
			}
			return 1
		}
		if *show {
			stdout.Write(sc.MarshalTOML())
			fmt.Fprintln(stdout)
			stdout.Write(cc.MarshalTOML())
			return 0
		}
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	case "cluster", "member":
		return clientCommand(ctx, args, env, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "amaters-server-cluster %s (server %s, %s %s/%s, commit unknown)\n", version, server.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// flags are start's command-line settings; "" leaves a key alone.
type flags struct {
	srv                                                          srvconfig.Overrides
	nodeID, peerAddress, advertise, initialMembers, initialState string
}

// load builds and validates both parts of the configuration, and returns
// every problem at once.
func load(path string, env []string, f flags) (srvconfig.Config, clusterconfig.Cluster, error) {
	cc := clusterconfig.Default()
	sc, err := srvconfig.LoadWith(path, env, f.srv, srvconfig.Options{Sections: []srvconfig.Section{clusterconfig.Section(&cc)}})
	errs := srvconfig.Problems(err)
	if len(errs) == 0 {
		errs = append(errs, srvconfig.Problems(sc.Validate())...)
	}
	if len(errs) == 0 && sc.Storage.Engine != "lsm" {
		// Never quietly serve another kind of database than configured.
		errs = append(errs, &srvconfig.Error{Where: sc.Origin("storage.engine"), Key: "storage.engine",
			Message: fmt.Sprintf("%q: the cluster edition keeps its state on disk (lsm); the raft log is its durable copy", sc.Storage.Engine)})
	}
	clusterOK := len(srvconfig.Problems(err)) == 0
	for _, key := range []string{"node_id", "peer_address", "advertise_peer_url", "initial_members", "initial_state"} {
		v := map[string]string{"node_id": f.nodeID, "peer_address": f.peerAddress,
			"advertise_peer_url": f.advertise, "initial_members": f.initialMembers, "initial_state": f.initialState}[key]
		if v != "" {
			if err := cc.Set(key, v, "flag --"+strings.ReplaceAll(key, "_", "-")); err != nil {
				errs, clusterOK = append(errs, err), false
			}
		}
	}
	if clusterOK {
		errs = append(errs, srvconfig.Problems(cc.Validate())...)
	}
	return sc, cc, errors.Join(errs...)
}

func start(ctx context.Context, args, env []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	path := fs.String("config", "", "configuration file")
	fs.StringVar(&f.srv.DataDir, "data-dir", "", "server.data_dir")
	fs.StringVar(&f.srv.Bind, "bind", "", "server.bind_address: the API's HOST:PORT")
	fs.StringVar(&f.srv.HealthPort, "health-port", "", "health.http_port")
	fs.StringVar(&f.srv.LogLevel, "log-level", "", "server.log_level")
	fs.StringVar(&f.nodeID, "node-id", "", "cluster.node_id")
	fs.StringVar(&f.peerAddress, "peer-address", "", "cluster.peer_address")
	fs.StringVar(&f.advertise, "advertise-peer-url", "", "cluster.advertise_peer_url")
	fs.StringVar(&f.initialMembers, "initial-members", "", "cluster.initial_members, comma-separated id=url")
	fs.StringVar(&f.initialState, "initial-state", "", "cluster.initial_state: new or existing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc, cc, err := load(*path, env, f)
	if err != nil {
		fmt.Fprintln(stderr, "amaters-server-cluster: invalid configuration:")
		for _, p := range srvconfig.Problems(err) {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	members, _ := cc.Members() // validated
	o := replica.Options{
		ID: cc.NodeID, InitialMembers: members, Join: cc.InitialState == "existing",
		InsecurePeers: cc.InsecurePeers, TickInterval: cc.Heartbeat(), ElectionTicks: cc.ElectionTicks(),
		SnapshotEntries: uint64(cc.SnapshotEntries), RequestTimeout: cc.RequestTimeout(),
	}
	o.Machine.ServerVersion = version
	o.Machine.MemtableSize = sc.Storage.MemtableSizeMB << 20
	o.Machine.BlockCacheSize = sc.Storage.CacheSizeMB << 20
	o.Machine.Store.HistoryRevisions = 100000
	if cc.TLS() {
		if o.PeerTLS, err = transport.LoadTLS(cc.PeerTLSCert, cc.PeerTLSKey, cc.PeerTLSCA); err != nil {
			fmt.Fprintln(stderr, "amaters-server-cluster: cluster.peer_tls_cert:", err)
			return 1
		}
	}
	// The peer port first: a busy one fails the start before the server
	// binds its own or touches the data folder.
	if o.PeerListener, err = net.Listen("tcp", cc.PeerAddress); err != nil {
		fmt.Fprintf(stderr, "amaters-server-cluster: cluster.peer_address: %v\n", err)
		return 1
	}
	m := member.New(o)
	// A reload (SIGHUP) reloads the server's sections; [cluster] is read
	// at start only.
	reload := func() (srvconfig.Config, error) { c, _, err := load(*path, env, f); return c, err }
	sigs := make(chan os.Signal, 4)
	srv, err := server.New(sc, m.ServerOptions(server.Options{
		Stderr: stderr, LoadConfig: reload, Signals: sigs,
		NotifySocket: getenv(env, "NOTIFY_SOCKET"), Watchdog: watchdogInterval(env),
	}))
	if err != nil {
		o.PeerListener.Close()
		fmt.Fprintln(stderr, "amaters-server-cluster:", err)
		return 1
	}
	m.SetFeed(srv) // the watches of API.md §8
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.Watch(ctx, 200*time.Millisecond); err != nil {
			cancel(err)
		}
	})
	err = srv.Run(ctx)
	if m.Replica() == nil {
		o.PeerListener.Close() // Run stopped before it opened the engine
	}
	cause := context.Cause(ctx)
	cancel(nil)
	wg.Wait()
	if err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err != nil {
		fmt.Fprintln(stderr, "amaters-server-cluster:", err)
		return 1
	}
	return 0
}

func getenv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// watchdogInterval reads systemd's $WATCHDOG_USEC (microseconds), when it
// is meant for this process ($WATCHDOG_PID unset or ours), as
// amaters-server does.
func watchdogInterval(env []string) time.Duration {
	if pid := getenv(env, "WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseInt(getenv(env, "WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}
