// Command amaters-server-cluster is the cluster edition of amaters-server
// (API.md §9). This is the skeleton of the binary: it loads and validates
// the configuration (the product's sections and [cluster]) and runs this
// member of the cluster: the raft log, the replicated state machine and
// the peer listener. It does not serve the HTTP API yet: that waits for
// the server's seam for a replicated engine (see README, "Cluster
// edition"), and the binary says so on stderr when it starts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	clusterconfig "amaters-server/cluster/config"
	"amaters-server/cluster/replica"
	"amaters-server/cluster/transport"
	srvconfig "amaters-server/server/config"
)

// version is the cluster edition's version (API.md §9 is 0.4). It is
// not server.Version: importing package server would add its
// dependencies to this module while the binary does not serve the API.
const version = "0.4.0-dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `usage:
  amaters-server-cluster start [flags]         run this member until SIGTERM/SIGINT
  amaters-server-cluster --config F            same as start --config F
  amaters-server-cluster validate-config --config F [--show]
  amaters-server-cluster version
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
	case "version":
		fmt.Fprintf(stdout, "amaters-server-cluster %s (%s %s/%s, commit unknown)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
	sc, err := srvconfig.Load(path, env, f.srv)
	var errs []error
	for _, p := range srvconfig.Problems(err) {
		// server/config knows no [cluster] section; this binary does.
		if e, ok := p.(*srvconfig.Error); ok && e.Key == "cluster" {
			continue
		}
		errs = append(errs, p)
	}
	if len(errs) == 0 {
		errs = append(errs, srvconfig.Problems(sc.Validate())...)
	}
	if len(errs) == 0 && sc.Storage.Engine != "lsm" {
		// Never quietly serve another kind of database than configured.
		errs = append(errs, &srvconfig.Error{Where: sc.Origin("storage.engine"), Key: "storage.engine",
			Message: fmt.Sprintf("%q: the cluster edition keeps its state on disk (lsm); the raft log is its durable copy", sc.Storage.Engine)})
	}
	cc, err := clusterconfig.Load(path, env)
	errs = append(errs, srvconfig.Problems(err)...)
	for key, v := range map[string]string{"node_id": f.nodeID, "peer_address": f.peerAddress,
		"advertise_peer_url": f.advertise, "initial_members": f.initialMembers, "initial_state": f.initialState} {
		if v != "" {
			if err := cc.Set(key, v, "flag --"+strings.ReplaceAll(key, "_", "-")); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err == nil {
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
		for _, p := range srvconfig.Problems(err) {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	var level slog.Level
	level.UnmarshalText([]byte(sc.Server.LogLevel)) // validated
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	members, _ := cc.Members() // validated
	o := replica.Options{
		ID: cc.NodeID, InitialMembers: members, Join: cc.InitialState == "existing",
		InsecurePeers: cc.InsecurePeers, TickInterval: cc.Heartbeat(), ElectionTicks: cc.ElectionTicks(),
		SnapshotEntries: uint64(cc.SnapshotEntries), RequestTimeout: cc.RequestTimeout(), Logger: logger,
	}
	o.Machine.ServerVersion = version
	o.Machine.MemtableSize = sc.Storage.MemtableSizeMB << 20
	o.Machine.BlockCacheSize = sc.Storage.CacheSizeMB << 20
	o.Machine.Store.HistoryRevisions = 100000
	if cc.TLS() {
		if o.PeerTLS, err = transport.LoadTLS(cc.PeerTLSCert, cc.PeerTLSKey, cc.PeerTLSCA); err != nil {
			fmt.Fprintln(stderr, "cluster.peer_tls_cert:", err)
			return 1
		}
	}
	if o.PeerListener, err = net.Listen("tcp", cc.PeerAddress); err != nil {
		fmt.Fprintf(stderr, "cluster.peer_address: %v\n", err)
		return 1
	}
	if err := os.MkdirAll(sc.Server.DataDir, 0o700); err != nil {
		o.PeerListener.Close()
		fmt.Fprintln(stderr, "server.data_dir:", err)
		return 1
	}
	r, err := replica.Open(sc.Server.DataDir, o)
	if err != nil {
		fmt.Fprintln(stderr, "start:", err)
		return 1
	}
	fmt.Fprintln(stderr, "amaters-server-cluster: this build runs the member (raft, state machine, peers) but does not serve the HTTP API yet")
	logger.Info("member started", "id", cc.NodeID, "peer_address", o.PeerListener.Addr().String(), "data_dir", sc.Server.DataDir)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lead uint64
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if err := r.Node().Err(); err != nil {
				done = true
				break
			}
			if st := r.Node().Status(); st.Leader != lead {
				lead = st.Leader
				logger.Info("leader", "leader", st.Leader, "term", st.Term, "applied", st.Applied)
			}
		}
	}
	stop() // a second signal exits at once
	if err := r.Close(); err != nil {
		logger.Error("member stopped", "err", err)
		return 1
	}
	logger.Info("member stopped")
	return 0
}
