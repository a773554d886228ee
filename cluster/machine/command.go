package machine

import (
	"encoding/binary"
	"fmt"
	"time"

	"amaters-server/server/store"
)

// A command (part of the on-disk format: it lives in the raft log;
// never change, a new layout gets a new version byte):
//
//	version   u8, commandV1
//	count     uvarint, number of requests
//	request   count times:
//	  now     i64 BE, the request's Now in unix ms (0: the zero time)
//	  ops     uvarint, number of ops, then per op:
//	    kind      u8 (store.OpKind)
//	    guard     u8 (store.GuardKind), then the guard's revision as
//	              uvarint (0 unless GuardRevision; carried as given, so
//	              the store judges exactly what the proposer sent)
//	    flags     u8: bit 0 an expiry follows
//	    expires   i64 BE unix ms (flag bit 0 only)
//	    collection uvarint length, bytes
//	    key        uvarint length, bytes
//	    value      uvarint length, bytes
//
// Times are kept to the millisecond, as the store keeps them.
const commandV1 = 1

// maxRequests bounds the requests of one decoded command, and maxOps the
// ops of one request, so a hostile or damaged entry cannot make the
// decoder allocate without bound (every op takes at least 6 bytes
// anyway, so lengths are also bounded by the entry's size).
const (
	maxRequests = 1 << 16
	maxOps      = 1 << 20
)

// Encode appends the command carrying reqs to b. Only the ops and Now
// travel: AppliedIndex is the entry's index, set by the apply.
func Encode(b []byte, reqs []store.Request) []byte {
	b = append(b, commandV1)
	b = binary.AppendUvarint(b, uint64(len(reqs)))
	for i := range reqs {
		r := &reqs[i]
		b = binary.BigEndian.AppendUint64(b, uint64(unixMs(r.Now)))
		b = binary.AppendUvarint(b, uint64(len(r.Ops)))
		for j := range r.Ops {
			o := &r.Ops[j]
			b = append(b, byte(o.Kind), byte(o.Guard.Kind))
			b = binary.AppendUvarint(b, o.Guard.Revision)
			if o.ExpiresAt.IsZero() {
				b = append(b, 0)
			} else {
				b = append(b, 1)
				b = binary.BigEndian.AppendUint64(b, uint64(unixMs(o.ExpiresAt)))
			}
			b = appendBytes(b, []byte(o.Collection))
			b = appendBytes(b, o.Key)
			b = appendBytes(b, o.Value)
		}
	}
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Decode decodes a command. The requests' slices alias b. Whether the
// requests are valid (names, guard kinds, expiry after Now) is the
// store's to say: Decode checks only the encoding.
func Decode(b []byte) ([]store.Request, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != commandV1 {
		return nil, fmt.Errorf("%w: version %d", ErrBadCommand, v)
	}
	n := d.count(maxRequests)
	var reqs []store.Request
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := store.Request{Now: fromMs(int64(d.u64()))}
		nops := d.count(maxOps)
		if d.err == nil {
			r.Ops = make([]store.Op, 0, min(nops, uint64(len(d.b))/6))
		}
		for j := uint64(0); j < nops && d.err == nil; j++ {
			var o store.Op
			o.Kind = store.OpKind(d.byte())
			o.Guard.Kind = store.GuardKind(d.byte())
			o.Guard.Revision = d.uvarint()
			switch flags := d.byte(); flags {
			case 0:
			case 1:
				ms := int64(d.u64())
				if ms == 0 && d.err == nil {
					d.fail("expiry flag with a zero time")
				}
				o.ExpiresAt = fromMs(ms)
			default:
				d.fail(fmt.Sprintf("op flags %#x", flags))
			}
			o.Collection = string(d.bytes())
			o.Key = d.bytes()
			o.Value = d.bytes()
			r.Ops = append(r.Ops, o)
		}
		reqs = append(reqs, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d bytes after the last request", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	return reqs, nil
}

// decoder reads a command; the first failure sticks in err and every
// later read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadCommand, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// One encoding per number: no overlong varints, so a command that
	// decodes encodes back to the same bytes.
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count(limit uint64) uint64 {
	n := d.uvarint()
	if n > limit {
		d.fail(fmt.Sprintf("count %d above %d", n, limit))
		return 0
	}
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length beyond the command")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
