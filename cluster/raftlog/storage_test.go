package raftlog_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"amaters-server/cluster/internal/crashfs"
	"amaters-server/cluster/raftlog"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func open(t *testing.T, fs *crashfs.FS) *raftlog.Storage {
	t.Helper()
	s, err := raftlog.Open("/raft", raftlog.Options{FS: fs, MemtableSize: 16 << 10})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func ents(first uint64, n int, term uint64, rng *rand.Rand) []*pb.Entry {
	var es []*pb.Entry
	for i := range n {
		data := make([]byte, rng.IntN(200))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		typ := pb.EntryNormal
		if rng.IntN(10) == 0 {
			typ = pb.EntryConfChangeV2
		}
		es = append(es, &pb.Entry{Index: new(first + uint64(i)), Term: new(term), Type: typ.Enum(), Data: data})
	}
	return es
}

// TestModel runs random operations on a Storage and on raft.MemoryStorage,
// the model, and compares every observable answer after each step. It
// reopens the storage (clean close), and simulates power cuts (the state
// an fsync-acknowledged write must survive) along the way.
func TestModel(t *testing.T) {
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, seed, 300) })
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	fs := crashfs.New()
	s := open(t, fs)
	defer func() { s.Close() }()
	m := raft.NewMemoryStorage()
	term := uint64(1)
	var ops []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d after ops %v: %s", seed, ops, fmt.Sprintf(format, args...))
	}
	for range steps {
		first, _ := m.FirstIndex()
		last, _ := m.LastIndex()
		offset := first - 1
		snap, _ := m.Snapshot()
		snapIdx := snap.GetMetadata().GetIndex()
		switch op := rng.IntN(100); {
		case op < 45: // append, possibly overwriting a suffix, possibly below the offset
			start := last + 1
			if rng.IntN(3) == 0 && last > 1 {
				start = max(1, last-uint64(rng.IntN(int(min(last, 12)))))
			}
			if rng.IntN(4) == 0 {
				term++
			}
			es := ents(start, 1+rng.IntN(10), term, rng)
			ops = append(ops, fmt.Sprintf("append(%d,+%d)", start, len(es)))
			if err := m.Append(es); err != nil {
				fail("model append: %v", err)
			}
			if err := s.Append(es); err != nil {
				fail("append: %v", err)
			}
		case op < 60:
			hs := &pb.HardState{Term: new(term), Vote: new(uint64(rng.IntN(4))), Commit: new(uint64(rng.IntN(int(last + 1))))}
			ops = append(ops, "hardstate")
			m.SetHardState(hs)
			if err := s.SetHardState(hs); err != nil {
				fail("set hard state: %v", err)
			}
		case op < 70: // create a snapshot somewhere in the log
			lo := max(snapIdx+1, offset)
			if lo > last || lo == 0 {
				continue
			}
			i := lo + uint64(rng.IntN(int(last-lo+1)))
			cs := &pb.ConfState{Voters: []uint64{1, 2, uint64(3 + rng.IntN(3))}, Learners: []uint64{9}}
			if rng.IntN(3) == 0 {
				cs = nil
			}
			data := []byte(fmt.Sprintf("members@%d", i))
			ops = append(ops, fmt.Sprintf("snapshot(%d)", i))
			_, err1 := m.CreateSnapshot(i, cs, data)
			_, err2 := s.CreateSnapshot(i, cs, data)
			if !errors.Is(err2, err1) && (err1 != nil || err2 != nil) {
				fail("create snapshot(%d): %v, model %v", i, err2, err1)
			}
		case op < 80: // compact
			if last == offset {
				continue
			}
			i := offset + uint64(rng.IntN(int(last-offset+1)))
			ops = append(ops, fmt.Sprintf("compact(%d)", i))
			err1 := m.Compact(i)
			err2 := s.Compact(i)
			if !errors.Is(err2, err1) && (err1 != nil || err2 != nil) {
				fail("compact(%d): %v, model %v", i, err2, err1)
			}
		case op < 85: // a snapshot from a leader, ahead of or behind the log
			i := snapIdx + uint64(rng.IntN(30))
			if rng.IntN(4) == 0 && i > 3 {
				i -= 3
			}
			term++
			sn := &pb.Snapshot{Data: []byte("d"), Metadata: &pb.SnapshotMetadata{Index: new(i), Term: new(term),
				ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
			ops = append(ops, fmt.Sprintf("applysnapshot(%d)", i))
			if rng.IntN(2) == 0 {
				err1 := m.ApplySnapshot(sn)
				err2 := s.ApplySnapshot(sn)
				if !errors.Is(err2, err1) && (err1 != nil || err2 != nil) {
					fail("apply snapshot(%d): %v, model %v", i, err2, err1)
				}
				break
			}
			// What the Ready loop does: snapshot, hard state and the
			// entries after it in one Save.
			hs := &pb.HardState{Term: new(term), Commit: new(i)}
			es := ents(i+1, rng.IntN(5), term, rng)
			ops[len(ops)-1] += fmt.Sprintf("+save(+%d)", len(es))
			err1 := m.ApplySnapshot(sn)
			err2 := s.Save(sn, hs, es)
			if !errors.Is(err2, err1) && (err1 != nil || err2 != nil) {
				fail("save with snapshot(%d): %v, model %v", i, err2, err1)
			}
			if err1 == nil {
				m.SetHardState(hs)
				m.Append(es)
			}
		case op < 92:
			ops = append(ops, "reopen")
			if err := s.Close(); err != nil {
				fail("close: %v", err)
			}
			s = open(t, fs)
		default:
			// A power cut: every write was acknowledged after an fsync, so
			// the crashed state is the whole state.
			ops = append(ops, "powercut")
			crashed := fs.Crash()
			s.Close()
			fs = crashed
			s = open(t, fs)
		}
		compare(t, s, m, rng, fail)
	}
}

func compare(t *testing.T, s *raftlog.Storage, m *raft.MemoryStorage, rng *rand.Rand, fail func(string, ...any)) {
	t.Helper()
	f1, _ := m.FirstIndex()
	f2, err := s.FirstIndex()
	if err != nil || f1 != f2 {
		fail("first index %d (%v), model %d", f2, err, f1)
	}
	l1, _ := m.LastIndex()
	l2, err := s.LastIndex()
	if err != nil || l1 != l2 {
		fail("last index %d (%v), model %d", l2, err, l1)
	}
	hs1, cs1, _ := m.InitialState()
	hs2, cs2, err := s.InitialState()
	if err != nil {
		fail("initial state: %v", err)
	}
	if hs1.GetTerm() != hs2.GetTerm() || hs1.GetVote() != hs2.GetVote() || hs1.GetCommit() != hs2.GetCommit() {
		fail("hard state %v, model %v", hs2, hs1)
	}
	if !proto.Equal(pb.EnsureConfState(cs1), pb.EnsureConfState(cs2)) {
		fail("conf state %v, model %v", cs2, cs1)
	}
	sn1, _ := m.Snapshot()
	sn2, err := s.Snapshot()
	if err != nil || !proto.Equal(pb.EnsureSnapshot(sn1), pb.EnsureSnapshot(sn2)) {
		fail("snapshot %v (%v), model %v", sn2, err, sn1)
	}
	for i := f1 - 1; i <= l1+1; i++ {
		if i == 0 && f1 == 1 {
			continue
		}
		t1, e1 := m.Term(i)
		t2, e2 := s.Term(i)
		if t1 != t2 || !errors.Is(e2, e1) || (e1 == nil) != (e2 == nil) {
			fail("term(%d) = %d, %v; model %d, %v", i, t2, e2, t1, e1)
		}
	}
	if f1 > 1 {
		if _, err := s.Term(f1 - 2); !errors.Is(err, raft.ErrCompacted) {
			fail("term(%d) below the offset: %v", f1-2, err)
		}
	}
	for range 5 {
		lo := max(1, f1-1) + uint64(rng.IntN(int(l1-f1+3)))
		if lo > l1+1 {
			lo = l1 + 1
		}
		hi := lo + uint64(rng.IntN(int(l1+2-lo)))
		maxSize := uint64(rng.IntN(2000))
		if rng.IntN(3) == 0 {
			maxSize = ^uint64(0)
		}
		e1, err1 := m.Entries(lo, hi, maxSize)
		e2, err2 := s.Entries(lo, hi, maxSize)
		if (err1 == nil) != (err2 == nil) || !errors.Is(err2, err1) {
			fail("entries(%d,%d,%d): err %v, model %v", lo, hi, maxSize, err2, err1)
		}
		if len(e1) != len(e2) {
			fail("entries(%d,%d,%d): %d entries, model %d", lo, hi, maxSize, len(e2), len(e1))
		}
		for i := range e1 {
			if !proto.Equal(e1[i], e2[i]) {
				fail("entries(%d,%d,%d)[%d] = %v, model %v", lo, hi, maxSize, i, e2[i], e1[i])
			}
		}
	}
}

// TestAppendGap checks the one place the storage errs where the model
// panics: an append that would leave a hole.
func TestAppendGap(t *testing.T) {
	s := open(t, crashfs.New())
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	if err := s.Append(ents(1, 3, 1, rng)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ents(5, 1, 1, rng)); !errors.Is(err, raftlog.ErrOutOfRange) {
		t.Fatalf("append with a gap: %v, want ErrOutOfRange", err)
	}
	if err := s.Compact(9); !errors.Is(err, raftlog.ErrOutOfRange) {
		t.Fatalf("compact past the end: %v, want ErrOutOfRange", err)
	}
	if _, err := s.Entries(1, 9, 100); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("entries past the end: %v, want ErrUnavailable", err)
	}
}

// TestPowerCutMidSave checks that a Save is atomic under a power cut: the
// crashed state is the state before the batch or after it, never a mix.
// The lsm acknowledges only after fsync, so here the state after.
func TestPowerCutMidSave(t *testing.T) {
	fs := crashfs.New()
	s := open(t, fs)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		es := ents(uint64(i*4+1), 4, uint64(i+1), rng)
		hs := &pb.HardState{Term: new(uint64(i + 1)), Commit: new(uint64(i * 4))}
		if err := s.Save(nil, hs, es); err != nil {
			t.Fatal(err)
		}
	}
	killed := fs.Kill()
	s.Close()
	s = open(t, killed.Crash())
	defer s.Close()
	if l, _ := s.LastIndex(); l != 200 {
		t.Fatalf("last index after power cut %d, want 200", l)
	}
	if hs := s.HardState(); hs.GetTerm() != 50 || hs.GetCommit() != 196 {
		t.Fatalf("hard state after power cut %v", hs)
	}
}

func TestFormatRefused(t *testing.T) {
	fs := crashfs.New()
	s := open(t, fs)
	s.Close()
	// An lsm database that is not a raft log.
	fs2 := crashfs.New()
	db, err := lsmOpen(fs2)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("x"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := raftlog.Open("/raft", raftlog.Options{FS: fs2}); !errors.Is(err, raftlog.ErrFormat) {
		t.Fatalf("open of a foreign database: %v, want ErrFormat", err)
	}
}
