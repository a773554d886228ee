package blake3_test

import (
	"fmt"
	"io"

	"amaters-server/blake3"
)

func ExampleSum256() {
	fmt.Printf("%x\n", blake3.Sum256([]byte("abc")))
	// Output:
	// 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85
}

func ExampleHasher() {
	h := blake3.New()
	h.Write([]byte("a"))
	h.Write([]byte("bc"))
	fmt.Printf("%x\n", h.Sum(nil))
	// Output:
	// 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85
}

func ExampleHasher_XOF() {
	h := blake3.New()
	h.Write([]byte("abc"))
	out := make([]byte, 40)
	if _, err := io.ReadFull(h.XOF(), out); err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", out)
	// Output:
	// 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d851fb250ae7393f5d0
}

func ExampleNewDeriveKey() {
	h := blake3.NewDeriveKey("amaters-server 2025-01-01 example subkeys v1")
	h.Write([]byte("input key material"))
	key := make([]byte, 16)
	h.XOF().Read(key)
	fmt.Println(len(key))
	// Output:
	// 16
}

func ExampleNewKeyed() {
	key := []byte("whats the Elvish word for friend")
	h, err := blake3.NewKeyed(key)
	if err != nil {
		panic(err)
	}
	h.Write([]byte("message"))
	fmt.Println(len(h.Sum(nil)))
	_, err = blake3.NewKeyed([]byte("short"))
	fmt.Println(err)
	// Output:
	// 32
	// blake3: key must be 32 bytes: got 5 bytes
}
