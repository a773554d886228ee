package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

// t0 is the tests' time origin; whole milliseconds, like stored expiries.
var t0 = time.UnixMilli(1_700_000_000_000).UTC()

// clock is a hand-driven clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a store on an lsm.DB on a crash FS, with a hand-driven clock and
// no background goroutines.
type env struct {
	t     testing.TB
	fs    *crashFS
	lopts lsm.Options
	opts  store.Options
	clk   *clock
	db    *lsm.DB
	s     *store.Store
}

func newEnv(t testing.TB, opts store.Options) *env {
	t.Helper()
	e := &env{t: t, fs: newCrashFS(), clk: newClock()}
	e.lopts = lsm.Options{MemtableSize: 16 << 10}
	if opts.Now == nil {
		opts.Now = e.clk.Now
	}
	if opts.ExpireInterval == 0 {
		opts.ExpireInterval = -1
	}
	if opts.TrimInterval == 0 {
		opts.TrimInterval = -1
	}
	e.opts = opts
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	e.lopts.FS = e.fs
	db, err := lsm.Open("/db", e.lopts)
	if err != nil {
		e.t.Fatalf("lsm.Open: %v", err)
	}
	s, err := store.Open(db, e.opts)
	if err != nil {
		db.Close()
		e.t.Fatalf("store.Open: %v", err)
	}
	e.db, e.s = db, s
}

func (e *env) close() {
	if e.s == nil {
		return
	}
	if err := e.s.Close(); err != nil {
		e.t.Errorf("store.Close: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("lsm.Close: %v", err)
	}
	e.s, e.db = nil, nil
}

// reopen closes and opens again.
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

// crash opens a clone of the files: after a process kill, or after a
// power cut (keeping synced data, and a random part of the rest).
func (e *env) crash(clone *crashFS) {
	e.t.Helper()
	e.close() // writes to the old files only
	e.fs = clone
	e.open()
}

func (e *env) write(req store.Request) (store.Result, error) {
	e.t.Helper()
	return e.s.Write(context.Background(), req)
}

// mustWrite writes and fails the test on an error.
func (e *env) mustWrite(ops ...store.Op) store.Result {
	e.t.Helper()
	res, err := e.write(store.Request{Ops: ops})
	if err != nil {
		e.t.Fatalf("Write(%v): %v", ops, err)
	}
	return res
}

func put(c, key, value string) store.Op {
	return store.Op{Kind: store.OpPut, Collection: c, Key: []byte(key), Value: []byte(value)}
}

func del(c, key string) store.Op {
	return store.Op{Kind: store.OpDelete, Collection: c, Key: []byte(key)}
}

func check(c, key string, g store.Guard) store.Op {
	return store.Op{Kind: store.OpCheck, Collection: c, Key: []byte(key), Guard: g}
}

func guarded(o store.Op, g store.Guard) store.Op { o.Guard = g; return o }

func ttl(o store.Op, at time.Time) store.Op { o.ExpiresAt = at; return o }

func ifRev(r uint64) store.Guard { return store.Guard{Kind: store.GuardRevision, Revision: r} }

var (
	ifExists = store.Guard{Kind: store.GuardExists}
	ifAbsent = store.Guard{Kind: store.GuardAbsent}
)

// dump returns every key and value of the lsm.DB.
func dump(t testing.TB, db *lsm.DB) string {
	t.Helper()
	var b bytes.Buffer
	it := db.NewIterator(nil, nil)
	for it.Next() {
		fmt.Fprintf(&b, "%s=%s\n", escape(it.Key()), escape(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// escape quotes b byte by byte: printable ASCII as is, the rest \xNN.
func escape(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// history returns every event from revision from.
func history(t testing.TB, s *store.Store, from uint64) []store.Event {
	t.Helper()
	var evs []store.Event
	if _, err := s.History(from, func(ev store.Event) bool { evs = append(evs, ev); return true }); err != nil {
		t.Fatalf("History(%d): %v", from, err)
	}
	return evs
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
