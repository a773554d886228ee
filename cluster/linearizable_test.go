package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"amaters-server/cluster"

	"github.com/anishathalye/porcupine"
)

type opInput struct {
	Op       string // put, get, cas
	Key      string
	Val, Old string
}

type opOutput struct {
	Val     string // get: the value read
	OK      bool   // cas: whether it swapped
	Unknown bool   // put, cas: outcome unknown
}

// kvModel is a register per key with put, get and compare-and-set. An
// operation whose outcome is unknown returns "at the end of time", so
// the checker may place it anywhere after its call, or in effect nowhere.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(opInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(opInput), output.(opOutput)
		switch in.Op {
		case "put":
			return true, in.Val
		case "get":
			return out.Val == st, st
		default: // cas
			if out.Unknown {
				if st == in.Old {
					return true, in.Val
				}
				return true, st
			}
			if out.OK {
				return st == in.Old, in.Val
			}
			return st != in.Old, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(opInput), output.(opOutput)
		return fmt.Sprintf("%s(%s %q %q) -> %+v", in.Op, in.Key, in.Val, in.Old, out)
	},
}

// TestLinearizable runs concurrent clients (put, linearizable get, cas on
// a few keys) against a 3-member cluster while a seeded nemesis drops,
// duplicates, delays and reorders messages, partitions members
// (symmetric and one-way), and kills members with power cuts; Porcupine
// then checks the history. Afterwards the cluster heals and converges.
func TestLinearizable(t *testing.T) {
	seeds := []uint64{11, 12}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runLinearizable(t, seed, 3*time.Second) })
	}
}

func runLinearizable(t *testing.T, seed uint64, dur time.Duration) {
	c := newCluster(t, 3, seed, cluster.Options{SnapshotEntries: 100, CatchUpEntries: 20, RequestTimeout: time.Second})
	c.waitLeader()
	c.nw.setFaults(3, 3, 4*time.Millisecond)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		counts  = map[string]int{}
	)
	record := func(client int, in opInput, call int64, out opOutput, ok bool, outcome string) {
		mu.Lock()
		defer mu.Unlock()
		counts[outcome]++
		if !ok {
			return
		}
		ret := now()
		if out.Unknown {
			ret = math.MaxInt64
		}
		history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	}
	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var wg sync.WaitGroup
	const clients = 6
	for cl := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			for i := 0; ctx.Err() == nil; i++ {
				ms := c.running()
				m := ms[rng.IntN(len(ms))]
				in := opInput{Key: fmt.Sprint("k", rng.IntN(3)), Val: fmt.Sprintf("%d-%d", cl, i)}
				octx, ocancel := context.WithTimeout(context.Background(), time.Second)
				call := now()
				switch r := rng.IntN(10); {
				case r < 4:
					in.Op = "get"
					_, err := m.node.ReadIndex(octx)
					var v string
					if err == nil {
						v, err = m.sm.read(in.Key)
					}
					record(cl, in, call, opOutput{Val: v}, err == nil, "get "+describe(err))
				default:
					in.Op = "put"
					cmd := kvCmd{Op: "put", Key: in.Key, Val: in.Val}
					if r >= 7 {
						in.Op, in.Old = "cas", fmt.Sprintf("%d-%d", rng.IntN(clients), max(0, i-rng.IntN(3)))
						if rng.IntN(4) == 0 {
							in.Old = ""
						}
						cmd = kvCmd{Op: "cas", Key: in.Key, Val: in.Val, Old: in.Old}
					}
					b, _ := json.Marshal(cmd)
					res, err := m.node.Propose(octx, b)
					out := opOutput{}
					switch {
					case err == nil:
						out.OK = res.(kvResult).OK
					case errors.Is(err, cluster.ErrProposalDropped):
						// Certainly not applied: not in the history.
					default:
						out.Unknown = true
					}
					record(cl, in, call, out, !errors.Is(err, cluster.ErrProposalDropped), in.Op+" "+describe(err))
				}
				ocancel()
			}
		})
	}
	// The nemesis.
	rng := rand.New(rand.NewPCG(seed, 0xdead))
	faults := map[string]int{}
	ids := []uint64{1, 2, 3}
	for ctx.Err() == nil {
		switch r := rng.IntN(6); r {
		case 0:
			id := ids[rng.IntN(3)]
			c.nw.isolate(id, ids)
			faults["isolate"]++
		case 1:
			if l := c.leader(); l != nil {
				c.nw.isolate(l.id, ids)
				faults["isolate leader"]++
			}
		case 2:
			from, to := ids[rng.IntN(3)], ids[rng.IntN(3)]
			if l := c.leader(); l != nil && rng.IntN(2) == 0 {
				from = l.id
			}
			if from != to {
				c.nw.cutOneWay(from, to)
				faults["one-way cut"]++
			}
		case 3:
			if len(c.running()) == 3 {
				id := ids[rng.IntN(3)]
				if l := c.leader(); l != nil && rng.IntN(2) == 0 {
					id = l.id
				}
				fs := c.kill(id, true)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(50+rng.IntN(150)) * time.Millisecond):
				}
				c.start(id, fs, false)
				faults["power cut + restart"]++
			}
		default:
			c.nw.heal()
			faults["heal"]++
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+rng.IntN(200)) * time.Millisecond):
		}
	}
	wg.Wait()
	c.nw.heal()
	c.nw.setFaults(0, 0, 0)
	c.converge()
	res, info := porcupine.CheckOperationsVerbose(kvModel, history, 30*time.Second)
	t.Logf("seed %d: %d operations checked, outcomes %v, faults %v, messages delivered %d dropped %d",
		seed, len(history), counts, faults, c.nw.delivered.Load(), c.nw.dropped.Load())
	switch res {
	case porcupine.Illegal:
		_ = info
		t.Fatalf("seed %d: history is not linearizable", seed)
	case porcupine.Unknown:
		t.Logf("seed %d: the checker timed out", seed)
	}
}
