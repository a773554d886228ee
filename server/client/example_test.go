package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"amaters-server/server/client"
)

// The examples run against a real server, started in-process on a free
// loopback port with the memory engine.

func Example() {
	addr, stop, err := startLoopbackServer(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	c, err := client.New(addr, client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if _, err := c.Put(ctx, "demo", []byte("greeting"), []byte("hello world")); err != nil {
		fmt.Println(err)
		return
	}
	v, err := c.Get(ctx, "demo", []byte("greeting"))
	fmt.Printf("%s %v\n", v, err)

	_, err = c.Get(ctx, "demo", []byte("absent"))
	fmt.Println(errors.Is(err, client.ErrNotFound), err)

	st, err := c.Status(ctx)
	fmt.Println(st.Name, st.State, st.Engine, err)
	// Output:
	// hello world <nil>
	// true 404 not_found: key not found
	// amaters-server serving memory <nil>
}

func ExampleClient_Backup() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	c.Put(ctx, "demo", []byte("k"), []byte("v"))

	dir, err := os.MkdirTemp("", "backup-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	// The file appears only once the whole archive has arrived and every
	// BLAKE3 checksum in it matched.
	info, _, err := c.Backup(ctx, filepath.Join(dir, "demo.tar"), nil)
	fmt.Println(info.Format, info.Engine, info.LastSequence, err)
	// Output:
	// 1 memory 4 <nil>
}

func ExampleClient_Do() {
	c, stop := exampleClient()
	defer stop()
	// An atomic batch: keys and values in standard base64.
	resp, err := c.Do(context.Background(), "POST", "/v1/batch",
		[]byte(`{"ops":[{"op":"set","collection":"demo","key":"YQ==","value":"MQ=="},{"op":"delete","collection":"demo","key":"Yg=="}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d %s", resp.Status, resp.Body)
	// Output:
	// 200 {"applied":2,"revision":1}
}

// exampleClient is a client of a server started for an example.
func exampleClient() (*client.Client, func() error) {
	addr, stop, err := startLoopbackServer(nil)
	if err != nil {
		panic(err)
	}
	c, err := client.New(addr, client.Options{})
	if err != nil {
		panic(err)
	}
	return c, stop
}
