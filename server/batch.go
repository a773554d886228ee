package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"amaters-server/rbac"
)

const maxBatchOps = 10000

// batchRequest is the body of POST /v1/batch. Key and Value are pointers so
// that a missing member is told apart from an empty one.
type batchRequest struct {
	Ops []struct {
		Op         string  `json:"op"`
		Collection string  `json:"collection"`
		Key        *string `json:"key"`
		Value      *string `json:"value"`
	} `json:"ops"`
}

// batchLimits are the limits a batch is checked against.
type batchLimits struct {
	maxKey, maxValue int64
}

// decodeBatch reads and checks a whole batch: it either returns every op,
// valid, or an error naming the first bad one. Unknown members, trailing
// data and more than maxBatchOps ops are errors.
func decodeBatch(r io.Reader, lim batchLimits) ([]batchOp, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req batchRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge("request body is larger than %d bytes (middleware.max_body_bytes)", mbe.Limit)
		}
		return nil, errInvalid("batch body is not valid JSON of the form {\"ops\":[...]}: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errInvalid("batch body has data after the JSON object")
	}
	if req.Ops == nil {
		return nil, errInvalid("batch body needs an \"ops\" array")
	}
	if len(req.Ops) > maxBatchOps {
		return nil, errTooLarge("batch has %d ops; the limit is %d", len(req.Ops), maxBatchOps)
	}
	ops := make([]batchOp, len(req.Ops))
	for i, o := range req.Ops {
		where := fmt.Sprintf("ops[%d]", i)
		if err := checkCollection(o.Collection); err != nil {
			return nil, errInvalid("%s: collection name %q must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", where, truncate(o.Collection, 140))
		}
		if o.Key == nil {
			return nil, errInvalid("%s: key is missing", where)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(*o.Key)
		if err != nil {
			return nil, errInvalid("%s: key is not standard base64", where)
		}
		if len(key) == 0 {
			return nil, errInvalid("%s: key must not be empty", where)
		}
		if int64(len(key)) > lim.maxKey {
			return nil, errTooLarge("%s: key is %d bytes; the limit (storage.max_key_bytes) is %d", where, len(key), lim.maxKey)
		}
		ops[i] = batchOp{Collection: o.Collection, Key: key}
		switch o.Op {
		case "set":
			if o.Value == nil {
				return nil, errInvalid("%s: set needs a value (\"\" for an empty value)", where)
			}
			v, err := base64.StdEncoding.Strict().DecodeString(*o.Value)
			if err != nil {
				return nil, errInvalid("%s: value is not standard base64", where)
			}
			if int64(len(v)) > lim.maxValue {
				return nil, errTooLarge("%s: value is %d bytes; the limit (storage.max_value_bytes) is %d", where, len(v), lim.maxValue)
			}
			ops[i].Value = v
		case "delete":
			if o.Value != nil {
				return nil, errInvalid("%s: delete takes no value", where)
			}
			ops[i].Delete = true
		default:
			return nil, errInvalid("%s: op %q is not \"set\" or \"delete\"", where, truncate(o.Op, 32))
		}
	}
	return ops, nil
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) error {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes())
	ops, err := decodeBatch(body, batchLimits{maxKey: s.cfg.Storage.MaxKeyBytes, maxValue: s.cfg.Storage.MaxValueBytes})
	if err != nil {
		return err
	}
	// Every op is authorized before any is applied (all or nothing).
	seen := map[string]bool{}
	for _, o := range ops {
		if seen[o.Collection] {
			continue
		}
		seen[o.Collection] = true
		if err := s.authorize(r, rbac.Write, rbac.Collection(o.Collection)); err != nil {
			return err
		}
	}
	if len(ops) > 0 {
		if err := s.store.Batch(ops); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"applied": len(ops)})
	return nil
}
