package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"amaters-server/server/client"
)

// A read-modify-write loop that never loses an update: the write is
// guarded by the mod revision the read saw, and a failed guard means
// another client got there first, so read again.
func ExampleIfMatch() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	c.Put(ctx, "demo", []byte("counter"), []byte("41"))

	for {
		e, err := c.GetEntry(ctx, "demo", []byte("counter"))
		if err != nil {
			fmt.Println(err)
			return
		}
		n, _ := strconv.Atoi(string(e.Value))
		rev, err := c.Put(ctx, "demo", []byte("counter"), []byte(strconv.Itoa(n+1)), client.IfMatch(e.ModRevision))
		if errors.Is(err, client.ErrPreconditionFailed) {
			continue // changed since the read: try again
		}
		fmt.Println(n+1, rev, err)
		break
	}
	// A create that fails because the key exists.
	_, err := c.Put(ctx, "demo", []byte("counter"), []byte("0"), client.IfAbsent())
	var ce *client.Error
	fmt.Println(errors.Is(err, client.ErrPreconditionFailed), errors.As(err, &ce) && ce.CurrentRevision == 2)
	// Output:
	// 42 2 <nil>
	// true true
}

// A batch is atomic and shares one revision; a check asserts a key's
// revision without writing it, and a ttl makes a key expire.
func ExampleClient_Batch() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	rev, _ := c.Put(ctx, "demo", []byte("config"), []byte("v1"))

	rev, err := c.Batch(ctx, []client.Op{
		{Kind: "check", Collection: "demo", Key: []byte("config"), IfRevision: client.Rev(rev)},
		{Kind: "set", Collection: "demo", Key: []byte("a"), Value: []byte("1")},
		{Kind: "set", Collection: "demo", Key: []byte("session"), Value: []byte("x"), TTL: 3600e9},
	})
	fmt.Println(rev, err)

	_, err = c.Batch(ctx, []client.Op{
		{Kind: "set", Collection: "demo", Key: []byte("b"), Value: []byte("2")},
		{Kind: "delete", Collection: "demo", Key: []byte("a"), IfRevision: client.Rev(1)},
	})
	var ce *client.Error
	fmt.Println(errors.As(err, &ce) && ce.Index == 1, errors.Is(err, client.ErrPreconditionFailed))

	for it, err := range c.Range(ctx, "demo", client.RangeQuery{Limit: 1}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(it.Key), string(it.Value), it.ModRevision, !it.ExpiresAt.IsZero())
	}
	names, err := c.Collections(ctx)
	fmt.Println(names, err)
	// Output:
	// 2 <nil>
	// true true
	// a 1 2 false
	// config v1 1 false
	// session x 2 true
	// [demo] <nil>
}
