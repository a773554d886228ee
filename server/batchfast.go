package server

import "amaters-server/server/store"

// fastBatchBytes bounds the batch bodies decodeBatchFast scans whole; a
// 10 000-op batch of 100-byte values takes about 2 MB.
const fastBatchBytes = 8 << 20

// decodeBatchFast decodes the common form of a batch body in one pass
// over data: {"ops":[{"op":..,"collection":..,"key":..,"value":..},...]}
// with JSON whitespace anywhere, members in any order, and strings of
// printable ASCII without escapes. Guards and ttl (if_revision, ttl, the
// check op) are numbers, which it declines. ok is false for anything else, valid
// or not (escapes, null members, other bytes, any problem at all), and
// decodeBatchTokens then decodes the body or says what is wrong with it.
// So whatever this accepts, the token walk accepts too, with the same ops
// (FuzzBatchFastPath checks it).
//
// It allocates the ops, a buffer for the keys, each value (the
// query cache may keep a value: it must not pin the others) and each
// collection name that differs from the op before's.
func decodeBatchFast(data []byte, lim batchLimits) (ops []batchOp, ok bool) {
	s := fastScanner{b: data}
	if !s.byte('{') || !s.name("ops") || !s.byte(':') || !s.byte('[') {
		return nil, false
	}
	ops = []batchOp{}
	keys := make([]byte, 0, len(data)/8)
	if !s.byte(']') {
		for {
			if len(ops) == maxBatchOps {
				return nil, false
			}
			var op batchOp
			if op, keys, ok = s.op(lim, keys, ops); !ok {
				return nil, false
			}
			ops = append(ops, op)
			if s.byte(',') {
				continue
			}
			if !s.byte(']') {
				return nil, false
			}
			break
		}
	}
	if !s.byte('}') {
		return nil, false
	}
	s.space()
	return ops, s.i == len(s.b)
}

// fastScanner reads the JSON of decodeBatchFast.
type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after optional whitespace.
func (s *fastScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string of printable ASCII without escapes, after optional
// whitespace, and returns its contents.
func (s *fastScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20, c >= 0x7f, c == '\\':
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// name consumes the string want.
func (s *fastScanner) name(want string) bool {
	got, ok := s.str()
	return ok && string(got) == want
}

// op reads one op object and checks it as decodeBatchTokens does; keys
// is the buffer its key is decoded into, prev the ops so far (for the
// collection name of the last one).
func (s *fastScanner) op(lim batchLimits, keys []byte, prev []batchOp) (batchOp, []byte, bool) {
	if !s.byte('{') {
		return batchOp{}, keys, false
	}
	var vals [len(opMembers)][]byte
	var seen [len(opMembers)]bool
	for {
		name, ok := s.str()
		if !ok {
			return batchOp{}, keys, false
		}
		m := 0
		for m < len(opMembers) && opMembers[m] != string(name) {
			m++
		}
		if m == len(opMembers) || seen[m] || !s.byte(':') {
			return batchOp{}, keys, false
		}
		seen[m] = true
		if vals[m], ok = s.str(); !ok {
			return batchOp{}, keys, false
		}
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			return batchOp{}, keys, false
		}
		break
	}

	if seen[memberIfRevision] || seen[memberTTL] {
		return batchOp{}, keys, false // numbers: the token walk checks them
	}
	var op batchOp
	if c := vals[memberCollection]; len(prev) > 0 && prev[len(prev)-1].Collection == string(c) {
		op.Collection = prev[len(prev)-1].Collection
	} else {
		op.Collection = string(c)
	}
	if checkCollection(op.Collection) != nil || !seen[memberKey] {
		return batchOp{}, keys, false
	}
	n := strictBase64.DecodedLen(len(vals[memberKey]))
	if len(keys)+n > cap(keys) {
		// A new buffer; the keys decoded so far keep the old one.
		keys = make([]byte, 0, max(2*cap(keys), n, 4096))
	}
	start := len(keys)
	m, err := strictBase64.Decode(keys[start:start+n], vals[memberKey])
	if err != nil || m == 0 || int64(m) > lim.maxKey {
		return batchOp{}, keys, false
	}
	keys = keys[:start+m]
	op.Key = keys[start : start+m : start+m]
	switch string(vals[memberOp]) {
	case "set":
		if !seen[memberValue] {
			return batchOp{}, keys, false
		}
		v := make([]byte, strictBase64.DecodedLen(len(vals[memberValue])))
		m, err := strictBase64.Decode(v, vals[memberValue])
		if err != nil || int64(m) > lim.maxValue {
			return batchOp{}, keys, false
		}
		op.Kind, op.Value = store.OpPut, v[:m:m]
	case "delete":
		if seen[memberValue] {
			return batchOp{}, keys, false
		}
		op.Kind = store.OpDelete
	default:
		return batchOp{}, keys, false
	}
	return op, keys, true
}
