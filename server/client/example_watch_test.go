package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"amaters-server/server/client"
)

// Follow the users/ keys of a collection from revision 1 until
// interrupted, resuming by itself across dropped connections and server
// restarts. (Compiled, not run: it runs until interrupted.)
func ExampleClient_Watch() {
	c, err := client.New("127.0.0.1:7878", client.Options{APIKey: os.Getenv("AMATERS_API_KEY")})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	events, errc := c.Watch(ctx, "accounts", client.WatchOptions{Prefix: []byte("users/"), From: 1, Reconnects: -1})
	for ev := range events {
		fmt.Printf("%d %s %s=%s\n", ev.Revision, ev.Kind, ev.Key, ev.Value)
	}
	var ce *client.Error
	switch err := <-errc; {
	case errors.Is(err, context.Canceled):
	case errors.Is(err, client.ErrCompacted) && errors.As(err, &ce):
		fmt.Println("history starts at", ce.OldestRevision)
	default:
		fmt.Println(err)
	}
}
