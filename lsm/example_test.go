package lsm_test

import (
	"errors"
	"fmt"

	"amaters-server/lsm"
)

func Example() {
	// The memory FS keeps the example self-contained; pass a real
	// directory and a zero Options in production.
	db, err := lsm.Open("/example", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	db.Put([]byte("apple"), []byte("red"))
	db.Put([]byte("banana"), []byte("yellow"))
	db.Put([]byte("cherry"), []byte("dark red"))
	db.Delete([]byte("banana"))

	v, err := db.Get([]byte("apple"))
	fmt.Printf("apple=%s err=%v\n", v, err)
	_, err = db.Get([]byte("banana"))
	fmt.Println("banana not found:", errors.Is(err, lsm.ErrNotFound))

	it := db.NewIterator([]byte("a"), []byte("c"))
	for it.Next() {
		fmt.Printf("%s=%s\n", it.Key(), it.Value())
	}
	if err := it.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// apple=red err=<nil>
	// banana not found: true
	// apple=red
}

func ExampleBatch() {
	db, _ := lsm.Open("/example", lsm.Options{FS: lsm.NewMemFS()})
	defer db.Close()

	// A batch is applied atomically: a crash keeps all of it or none.
	var b lsm.Batch
	b.Put([]byte("from"), []byte("90"))
	b.Put([]byte("to"), []byte("110"))
	b.Delete([]byte("pending"))
	if err := db.Apply(&b); err != nil {
		fmt.Println(err)
	}
	v, _ := db.Get([]byte("to"))
	fmt.Println(string(v), b.Len())
	// Output: 110 3
}

func ExampleDB_Snapshot() {
	db, _ := lsm.Open("/example", lsm.Options{FS: lsm.NewMemFS()})
	defer db.Close()

	db.Put([]byte("k"), []byte("old"))
	snap := db.Snapshot()
	defer snap.Close()
	db.Put([]byte("k"), []byte("new"))

	before, _ := snap.Get([]byte("k"))
	now, _ := db.Get([]byte("k"))
	fmt.Println(string(before), string(now))
	// Output: old new
}

func ExampleCheck() {
	fs := lsm.NewMemFS()
	db, err := lsm.Open("/example", lsm.Options{FS: fs})
	if err != nil {
		fmt.Println(err)
		return
	}
	db.Put([]byte("apple"), []byte("red"))
	db.Put([]byte("cherry"), []byte("dark red"))
	db.Close()

	// Check reads a stopped database and changes nothing; it is what an
	// operator runs when Open refuses.
	r, err := lsm.Check("/example", lsm.CheckOptions{FS: fs})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("damaged=%v format=%d tables=%d entries=%d\n", r.Damaged(), r.Format, r.Tables, r.TableEntries)
	// Output:
	// damaged=false format=2 tables=1 entries=2
}
