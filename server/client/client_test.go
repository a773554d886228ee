package client_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"amaters-server/server/client"
)

// HostPort of an https URL with an IPv6 host and no port (it once doubled
// the brackets, so stop's wait and bench dialled nothing).
func TestHostPortIPv6URL(t *testing.T) {
	c, err := client.New("https://[::1]", client.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.HostPort(), "[::1]:443"; got != want {
		t.Fatalf("HostPort() = %q, want %q", got, want)
	}
}

// TestKeysRoundTrip: keys of any bytes, and empty values, go through Put,
// Get and Delete as they are; a missing key is ErrNotFound.
func TestKeysRoundTrip(t *testing.T) {
	c, err := client.New(startServer(t, nil), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	keys := [][]byte{[]byte("plain"), []byte(".."), []byte("."), []byte("a/b?c#d%e"), []byte("key with spaces"), {0, 0xff, '\n'}, bytes.Repeat([]byte("é"), 50)}
	for i, k := range keys {
		value := []byte(strings.Repeat("v", i)) // the first is empty
		if _, err := c.Put(ctx, "c", k, value); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
		got, err := c.Get(ctx, "c", k)
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("Get %q = %q, %v; want %q", k, got, err, value)
		}
	}
	for _, k := range keys {
		if _, err := c.Delete(ctx, "c", k); err != nil {
			t.Fatalf("Delete %q: %v", k, err)
		}
		if _, err := c.Get(ctx, "c", k); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Get %q after Delete: %v, want ErrNotFound", k, err)
		}
	}
	if _, err := c.Delete(ctx, "c", []byte("never there")); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	var ae *client.Error
	if _, err := c.Put(ctx, "bad name", []byte("k"), nil); !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "invalid_argument" {
		t.Fatalf("Put to a bad collection: %v", err)
	}
	if _, err := c.Get(ctx, "c", nil); err == nil {
		t.Fatal("Get of an empty key: no error")
	}
	st, err := c.Status(ctx)
	if err != nil || st.Name != "amaters-server" || st.State != "serving" || st.Engine != "memory" {
		t.Fatalf("Status: %+v, %v", st, err)
	}
}
