package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/promtext"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// pausingEngine lets a test stop a Get between reading the engine and
// returning, which is where a reader would populate the cache.
type pausingEngine struct {
	Engine
	pause   atomic.Bool
	reached chan struct{}
	resume  chan struct{}
}

func (e *pausingEngine) Get(c string, key []byte, now time.Time) (store.Entry, uint64, error) {
	v, rev, err := e.Engine.Get(c, key, now)
	if e.pause.CompareAndSwap(true, false) {
		e.reached <- struct{}{}
		<-e.resume
	}
	return v, rev, err
}

func newCachedStore(t *testing.T, maxEntries int64) (*kvStore, *pausingEngine, *metrics) {
	t.Helper()
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Storage.Engine = "memory"
	cfg.Cache.MaxEntries = maxEntries
	lsmEng, err := openLSM(t.Context(), cfg, discardLog(), time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lsmEng.Close() })
	reg := promtext.NewRegistry()
	m := newMetrics(reg, &Server{})
	eng := &pausingEngine{Engine: lsmEng, reached: make(chan struct{}), resume: make(chan struct{})}
	return newStore(eng, newQueryCache(&cfg, m, reg), m, time.Now), eng, m
}

// TestCacheReadPopulateRace is the classic race: a reader reads v1 from the
// engine, a writer writes v2 (and updates the cache), then the reader stores
// v1 in the cache. Without the generation check the next read returns v1.
func TestCacheReadPopulateRace(t *testing.T) {
	s, eng, _ := newCachedStore(t, 1000)
	if err := s.Put("c", "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	s.cache.entries.Purge() // the reader must go to the engine
	eng.pause.Store(true)
	done := make(chan []byte)
	go func() {
		v, _ := s.value("c", "k")
		done <- v
	}()
	<-eng.reached // the reader holds v1, not yet cached
	if err := s.Put("c", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	close(eng.resume)
	if v := <-done; string(v) != "v1" {
		t.Fatalf("paused reader got %q", v) // it read before the write: v1 is right for it
	}
	for range 3 {
		if v, err := s.value("c", "k"); err != nil || string(v) != "v2" {
			t.Fatalf("read after the write: %q %v (a stale cache entry)", v, err)
		}
	}
}

// TestCacheNeverStaleUnderLoad: writers bump per-key counters, readers check
// that each read is at least the last value acknowledged before it started.
func TestCacheNeverStaleUnderLoad(t *testing.T) {
	s, _, m := newCachedStore(t, 64) // small: evictions happen too
	const keys, writes = 8, 400
	var acked [keys]atomic.Int64
	var keyMu [keys]sync.Mutex // writers of one key take turns, so its values grow
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := range 4 {
		wg.Go(func() {
			for i := range writes {
				k := (w + i) % keys
				keyMu[k].Lock()
				n := acked[k].Load() + 1
				var err error
				if i%7 == 0 {
					err = s.Batch([]batchOp{
						{Collection: "c", Key: []byte(strconv.Itoa(k)), Value: []byte(strconv.FormatInt(n, 10))},
						{Collection: "c", Key: []byte("other"), Value: []byte("x")},
					})
				} else {
					err = s.Put("c", strconv.Itoa(k), []byte(strconv.FormatInt(n, 10)))
				}
				if err != nil {
					keyMu[k].Unlock()
					t.Error(err)
					return
				}
				acked[k].Store(n)
				keyMu[k].Unlock()
			}
		})
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for r := range 8 {
		rg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (r + i) % keys
				floor := acked[k].Load()
				v, err := s.value("c", strconv.Itoa(k))
				if errors.Is(err, ErrNotFound) {
					if floor > 0 {
						failed.Store(true)
						t.Errorf("key %d: not found after %d was acknowledged", k, floor)
					}
					continue
				}
				got, _ := strconv.ParseInt(string(v), 10, 64)
				if got < floor {
					failed.Store(true)
					t.Errorf("key %d: read %d after %d was acknowledged (stale)", k, got, floor)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	if failed.Load() {
		return
	}
	if m.cacheHits.Value() == 0 || m.cacheMisses.Value() == 0 {
		t.Errorf("hits %v misses %v: the cache was not exercised", m.cacheHits.Value(), m.cacheMisses.Value())
	}
}

func TestCacheWriteThroughAndAbsence(t *testing.T) {
	s, eng, m := newCachedStore(t, 1000)
	s.Put("c", "k", []byte("v"))
	// The write stored the value: this read is a hit, not an engine read.
	eng.pause.Store(true)
	if v, err := s.value("c", "k"); err != nil || string(v) != "v" {
		t.Fatalf("%q %v", v, err)
	}
	if !eng.pause.Load() {
		t.Fatal("a read right after a PUT went to the engine")
	}
	s.Delete("c", "k")
	if _, err := s.value("c", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DELETE: %v", err)
	}
	if !eng.pause.Load() {
		t.Fatal("the absence written by DELETE was not cached")
	}
	eng.pause.Store(false)
	hits := m.cacheHits.Value()
	s.value("c", "k")
	if m.cacheHits.Value() != hits+1 {
		t.Fatal("a cached absence is not a hit")
	}
	// An empty value stays a value.
	s.Put("c", "e", []byte{})
	if v, err := s.value("c", "e"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value through the cache: %q %v", v, err)
	}
}

func TestCacheKeysAreUnambiguous(t *testing.T) {
	// Collection and key boundaries, and range bounds, are length-prefixed.
	if getKey("ab", "c") == getKey("a", "bc") {
		t.Fatal("GET keys collide across the collection boundary")
	}
	a := rangeKey("c", rangeQuery{Start: []byte("a"), Limit: 10}, 1)
	b := rangeKey("c", rangeQuery{End: []byte("a"), Limit: 10}, 1)
	c := rangeKey("c", rangeQuery{Start: []byte("a"), End: []byte{}, Limit: 10}, 1)
	if a == b || a == c || b == c {
		t.Fatal("range keys collide")
	}
	if rangeKey("c", rangeQuery{Limit: 10}, 1) == rangeKey("c", rangeQuery{Limit: 11}, 1) {
		t.Fatal("range keys ignore the limit")
	}
}

func TestCacheBoundedAndOff(t *testing.T) {
	s, _, m := newCachedStore(t, 128)
	for i := range 2000 {
		s.Put("c", fmt.Sprint(i), bytes.Repeat([]byte("v"), 10))
	}
	if n := s.cache.entries.Len(); n > 128 {
		t.Fatalf("%d entries, limit 128", n)
	}
	if m.cacheEvictions.Value() == 0 {
		t.Fatal("evictions not counted")
	}
	cfg := config.Default()
	cfg.Cache.MaxEntries = 0
	if q := newQueryCache(&cfg, m, promtext.NewRegistry()); q != nil {
		t.Fatal("max_entries = 0 must turn the cache off")
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCacheReadersCreateNoGenerations(t *testing.T) {
	s, _, _ := newCachedStore(t, 100)
	for i := range 1000 {
		if g := s.cache.rangeGen(fmt.Sprint("made-up-", i)); g != 0 {
			t.Fatalf("generation %d for a collection never written", g)
		}
	}
	s.Put("real", "k", []byte("v"))
	if len(s.cache.gens) != 1 || s.cache.rangeGen("real") == 0 {
		t.Fatalf("%d generation counters after reads of 1000 names and one write", len(s.cache.gens))
	}
}
