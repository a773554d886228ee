package member

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"amaters-server/cluster"
	"amaters-server/server"
)

// TestServerErr: the replica's errors reach the server as the kinds it
// answers 503 (API.md §9), still matching the cluster's own; others
// pass unchanged.
func TestServerErr(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: %w", cluster.ErrUnknownOutcome, context.DeadlineExceeded), server.ErrUnknownOutcome},
		{fmt.Errorf("%w: %w", cluster.ErrTimeout, context.DeadlineExceeded), server.ErrUnavailable},
		{cluster.ErrProposalDropped, server.ErrUnavailable},
		{cluster.ErrStopped, server.ErrUnavailable},
		{cluster.ErrRemoved, server.ErrUnavailable},
	} {
		got := serverErr(tc.err)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.err) || got.Error() != tc.err.Error() {
			t.Errorf("%v: got %v", tc.err, got)
		}
		other := server.ErrUnknownOutcome
		if tc.want == other {
			other = server.ErrUnavailable
		}
		if errors.Is(got, other) {
			t.Errorf("%v matches %v too", tc.err, other)
		}
	}
	plain := errors.New("disk")
	if serverErr(plain) != plain || serverErr(nil) != nil {
		t.Error("other errors must pass unchanged")
	}
}

func TestCheckPeerURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:7880", "https://db-1.peers:7880", "http://[::1]:7880/"} {
		if err := checkPeerURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:7880", "ftp://h:1", "http://", "http://u:p@h:1", "http://h:1/x", "http://h:1?a", "http://h:1#f", "not a url"} {
		if err := checkPeerURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
