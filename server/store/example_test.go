package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

func Example() {
	// The memory FS keeps the example self-contained.
	db, err := lsm.Open("/example", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := store.Open(db, store.Options{
		Now:              func() time.Time { return now },
		HistoryRevisions: 1000,
		ExpireInterval:   -1, // expire by hand below
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()

	// Create a key only if it is absent.
	create := store.Op{Kind: store.OpPut, Collection: "users", Key: []byte("ada"), Value: []byte("v1"),
		Guard: store.Guard{Kind: store.GuardAbsent}}
	res, err := s.Write(ctx, store.Request{Ops: []store.Op{create}})
	fmt.Println("created at revision", res.Revision, err)
	_, err = s.Write(ctx, store.Request{Ops: []store.Op{create}})
	var ge *store.GuardError
	if errors.As(err, &ge) {
		fmt.Println("create again:", errors.Is(err, store.ErrPreconditionFailed), "current revision", ge.Current.ModRevision)
	}

	// Update only if unchanged since revision 1 (a compare-and-swap),
	// with an expiry.
	update := store.Op{Kind: store.OpPut, Collection: "users", Key: []byte("ada"), Value: []byte("v2"),
		Guard: store.Guard{Kind: store.GuardRevision, Revision: 1}, ExpiresAt: now.Add(time.Minute)}
	res, err = s.Write(ctx, store.Request{Ops: []store.Op{update}})
	fmt.Println("updated at revision", res.Revision, err)

	e, rev, err := s.Get("users", []byte("ada"), now)
	fmt.Printf("%s mod revision %d expires %s, read at revision %d %v\n", e.Value, e.ModRevision, e.ExpiresAt.Format(time.TimeOnly), rev, err)

	// A minute later the key is gone for reads; the expirer commits it.
	later := now.Add(time.Minute)
	_, _, err = s.Get("users", []byte("ada"), later)
	fmt.Println("after expiry:", errors.Is(err, store.ErrNotFound))
	n, err := s.ExpireOnce(later, 100)
	fmt.Println("expired", n, err)

	s.History(1, func(ev store.Event) bool {
		fmt.Println(ev.Revision, ev.Kind, ev.Collection, string(ev.Key), string(ev.Value))
		return true
	})
	// Output:
	// created at revision 1 <nil>
	// create again: true current revision 1
	// updated at revision 2 <nil>
	// v2 mod revision 2 expires 03:05:05, read at revision 2 <nil>
	// after expiry: true
	// expired 1 <nil>
	// 1 put users ada v1
	// 2 put users ada v2
	// 3 expire users ada
}
