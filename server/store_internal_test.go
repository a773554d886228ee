package server

import (
	"context"

	"amaters-server/server/store"
)

// Shorthands of the package's tests for unguarded writes and plain reads.

func (s *kvStore) Put(c, key string, value []byte) error {
	_, err := s.Write(context.Background(), opSet, store.Request{Ops: []store.Op{{Kind: store.OpPut, Collection: c, Key: []byte(key), Value: value}}}, nil)
	return err
}

func (s *kvStore) Delete(c, key string) error {
	_, err := s.Write(context.Background(), opDelete, store.Request{Ops: []store.Op{{Kind: store.OpDelete, Collection: c, Key: []byte(key)}}}, nil)
	return err
}

// Batch writes ops; an op without a Kind is a put.
func (s *kvStore) Batch(ops []batchOp) error {
	req := store.Request{Ops: make([]store.Op, len(ops))}
	for i, o := range ops {
		k := o.Kind
		if k == 0 {
			k = store.OpPut
		}
		req.Ops[i] = store.Op{Kind: k, Collection: o.Collection, Key: o.Key, Value: o.Value, Guard: o.Guard}
	}
	_, err := s.Write(context.Background(), opBatch, req, nil)
	return err
}

// value is a GET's value.
func (s *kvStore) value(c, key string) ([]byte, error) {
	g, err := s.Get(c, key)
	return g.Value, err
}
