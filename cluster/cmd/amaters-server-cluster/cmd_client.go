package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"amaters-server/server/client"
)

// clientCommand runs `cluster status`, `member list`, `member add URL`
// and `member remove ID` against a running member's API (server/client).
// Exit 0 on success, 1 when the member answers an error or cannot be
// reached, 2 on a bad command line.
func clientCommand(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0] + " " + args[1]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7878", "a member's API address, HOST:PORT or URL")
	format := fs.String("format", "human", "output: human or json")
	var o client.Options
	fs.StringVar(&o.Token, "token", getenv(env, "AMATERS_TOKEN"), "bearer token (default $AMATERS_TOKEN)")
	fs.StringVar(&o.APIKey, "api-key", getenv(env, "AMATERS_API_KEY"), "API key (default $AMATERS_API_KEY)")
	fs.StringVar(&o.CACert, "cacert", "", "CA certificate (PEM) of the API's TLS")
	fs.StringVar(&o.Cert, "cert", "", "client certificate (PEM) for mTLS")
	fs.StringVar(&o.Key, "key", "", "client key (PEM) for mTLS")
	fs.BoolVar(&o.Insecure, "insecure-skip-verify", false, "do not verify the server's certificate")
	// The operand may come before or after the flags.
	rest := args[2:]
	var operand []string
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		operand, rest = rest[:1], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	operand = append(operand, fs.Args()...)
	want := map[string]int{"cluster status": 0, "member list": 0, "member add": 1, "member remove": 1}
	n, ok := want[cmd]
	if !ok || len(operand) != n || (*format != "human" && *format != "json") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	c, err := client.New(*addr, o)
	if err != nil {
		fmt.Fprintln(stderr, "amaters-server-cluster:", err)
		return 2
	}
	var out any
	switch cmd {
	case "cluster status", "member list":
		var st client.ClusterStatus
		if st, err = c.Cluster(ctx); err == nil {
			out = st
			if cmd == "member list" {
				out = st.Members
			}
			if *format == "human" {
				printStatus(stdout, st, cmd == "cluster status")
				return 0
			}
		}
	case "member add":
		var m client.Member
		if m, err = c.AddMember(ctx, operand[0]); err == nil {
			out = m
			if *format == "human" {
				if m.Role != "learner" {
					// The URL was a member's already (a retry, say).
					fmt.Fprintf(stdout, "%s is member %d already (%s)\n", m.PeerURL, m.ID, m.Role)
					return 0
				}
				fmt.Fprintf(stdout, "added member %d (%s) as a learner; start it with cluster.node_id = %d and cluster.initial_state = \"existing\"\n", m.ID, m.PeerURL, m.ID)
				return 0
			}
		}
	case "member remove":
		id, perr := strconv.ParseUint(operand[0], 10, 64)
		if perr != nil || id == 0 {
			fmt.Fprintf(stderr, "amaters-server-cluster: member remove: %q is not a member id (a whole number from 1)\n", operand[0])
			return 2
		}
		if err = c.RemoveMember(ctx, id); err == nil {
			out = map[string]uint64{"removed": id}
			if *format == "human" {
				fmt.Fprintf(stdout, "removed member %d\n", id)
				return 0
			}
		}
	}
	if err != nil {
		if *format == "json" {
			b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": err.Error()}})
			fmt.Fprintln(stdout, string(b))
		}
		fmt.Fprintf(stderr, "amaters-server-cluster: %s: %v\n", cmd, err)
		if errors.Is(err, client.ErrNotCluster) {
			fmt.Fprintln(stderr, "amaters-server-cluster: that address serves a single-node amaters-server")
		}
		return 1
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return 0
}

func printStatus(w io.Writer, st client.ClusterStatus, header bool) {
	if header {
		lead := "none known"
		if st.Leader != 0 {
			lead = strconv.FormatUint(st.Leader, 10)
		}
		fmt.Fprintf(w, "member %d: leader %s, term %d, commit index %d, applied index %d\n", st.ID, lead, st.Term, st.CommitIndex, st.AppliedIndex)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPEER URL\tROLE\tREACHABLE")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%v\n", m.ID, m.PeerURL, m.Role, m.Reachable)
	}
	tw.Flush()
}
