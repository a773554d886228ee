package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The byte layouts of the keys and values, drawn in doc.go (# Format).
// Part of the on-disk format; never change a meaning, only add.

// formatVersion is the value of the "format" meta key for this layout.
const formatVersion = 3

// maxCollectionLen is the longest collection name: its length is one
// byte of the data key, and 0 is reserved for the store's own keys.
const maxCollectionLen = 128

// The store's own keys all start with 0x00, which no data key does.
var (
	keyFormat     = []byte("\x00mformat")
	keyRev        = []byte("\x00mrev")
	keyApplied    = []byte("\x00mapplied")
	keyHistOldest = []byte("\x00mhist_oldest")
	keyUpgrade    = []byte("\x00mupgrade")

	prefixHistory = []byte("\x00h")
	prefixExpiry  = []byte("\x00x")
	endExpiry     = []byte("\x00y") // prefix end of prefixExpiry

	// The data keys: [dataLo, dataHi) holds every collection.
	dataLo = []byte{1}
	dataHi = []byte{maxCollectionLen + 1}
)

const (
	envelopeHeaderLen = 1 + 8
	flagExpires       = 1 // envelope and event flag: an expiry follows
	histKeyLen        = 2 + 8 + 4
)

// appendDataKey appends len(c) | c | key.
func appendDataKey(dst []byte, c string, key []byte) []byte {
	dst = append(dst, byte(len(c)))
	dst = append(dst, c...)
	return append(dst, key...)
}

// collectionPrefix returns len(c) | c.
func collectionPrefix(c string) []byte {
	return appendDataKey(make([]byte, 0, 1+len(c)), c, nil)
}

// splitDataKey returns the collection and user key of a data key.
func splitDataKey(dk []byte) (c string, key []byte, ok bool) {
	if len(dk) < 1 || dk[0] == 0 || dk[0] > maxCollectionLen || len(dk) < 1+int(dk[0]) {
		return "", nil, false
	}
	n := int(dk[0])
	return string(dk[1 : 1+n]), dk[1+n:], true
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// The envelope of a stored value:
//
//	flags u8 | mod rev u64 BE | [expires unix ms i64 BE, flag 1] | value

// appendEnvelope appends the envelope of value; expMs 0 means no expiry.
func appendEnvelope(dst []byte, modRev uint64, expMs int64, value []byte) []byte {
	if expMs != 0 {
		dst = append(dst, flagExpires)
		dst = binary.BigEndian.AppendUint64(dst, modRev)
		dst = binary.BigEndian.AppendUint64(dst, uint64(expMs))
	} else {
		dst = append(dst, 0)
		dst = binary.BigEndian.AppendUint64(dst, modRev)
	}
	return append(dst, value...)
}

var (
	errShort       = errors.New("truncated")
	errFlags       = errors.New("unknown flag bits")
	errZeroRev     = errors.New("revision 0")
	errBadExpiry   = errors.New("expiry not after 1970")
	errBadKind     = errors.New("unknown event kind")
	errBadLength   = errors.New("bad length")
	errTrailing    = errors.New("trailing bytes")
	errBadEventKey = errors.New("malformed history key")
)

// decodeEnvelope splits an envelope; value aliases b. Only what
// appendEnvelope writes decodes: the mod revision is at least 1 and an
// expiry is after 1970.
func decodeEnvelope(b []byte) (modRev uint64, expMs int64, value []byte, err error) {
	if len(b) < envelopeHeaderLen {
		return 0, 0, nil, errShort
	}
	flags := b[0]
	if flags&^flagExpires != 0 {
		return 0, 0, nil, fmt.Errorf("%w %#x", errFlags, flags)
	}
	modRev = binary.BigEndian.Uint64(b[1:9])
	if modRev == 0 {
		return 0, 0, nil, errZeroRev
	}
	b = b[envelopeHeaderLen:]
	if flags&flagExpires != 0 {
		if len(b) < 8 {
			return 0, 0, nil, errShort
		}
		expMs = int64(binary.BigEndian.Uint64(b))
		if expMs <= 0 {
			return 0, 0, nil, errBadExpiry
		}
		b = b[8:]
	}
	return modRev, expMs, b, nil
}

// A history event, under the key 0x00 'h' | rev u64 BE | index u32 BE:
//
//	kind u8 | len(c) u8 | c | uvarint len(key) | key
//	put only: flags u8 | [expires unix ms i64 BE, flag 1] | value

func appendHistKey(dst []byte, rev uint64, index uint32) []byte {
	dst = append(dst, prefixHistory...)
	dst = binary.BigEndian.AppendUint64(dst, rev)
	return binary.BigEndian.AppendUint32(dst, index)
}

func decodeHistKey(k []byte) (rev uint64, index uint32, err error) {
	if len(k) != histKeyLen || !bytes.HasPrefix(k, prefixHistory) {
		return 0, 0, errBadEventKey
	}
	return binary.BigEndian.Uint64(k[2:10]), binary.BigEndian.Uint32(k[10:]), nil
}

// appendEvent appends the encoding of ev, less its revision.
func appendEvent(dst []byte, kind EventKind, c string, key []byte, expMs int64, value []byte) []byte {
	dst = append(dst, byte(kind), byte(len(c)))
	dst = append(dst, c...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if kind != EventPut {
		return dst
	}
	if expMs != 0 {
		dst = append(dst, flagExpires)
		dst = binary.BigEndian.AppendUint64(dst, uint64(expMs))
	} else {
		dst = append(dst, 0)
	}
	return append(dst, value...)
}

// decodeEvent decodes an event; key and value alias b.
func decodeEvent(b []byte) (kind EventKind, c string, key []byte, expMs int64, value []byte, err error) {
	if len(b) < 2 {
		return 0, "", nil, 0, nil, errShort
	}
	kind = EventKind(b[0])
	if kind != EventPut && kind != EventDelete && kind != EventExpire {
		return 0, "", nil, 0, nil, fmt.Errorf("%w %d", errBadKind, b[0])
	}
	n := int(b[1])
	if n == 0 || n > maxCollectionLen {
		return 0, "", nil, 0, nil, fmt.Errorf("%w: collection of %d bytes", errBadLength, n)
	}
	b = b[2:]
	if len(b) < n {
		return 0, "", nil, 0, nil, errShort
	}
	c, b = string(b[:n]), b[n:]
	kl, m := binary.Uvarint(b)
	// An overlong uvarint (a final zero byte) is refused, so that what
	// decodes is exactly what appendEvent writes.
	if m <= 0 || (m > 1 && b[m-1] == 0) || kl > uint64(len(b)-m) {
		return 0, "", nil, 0, nil, fmt.Errorf("%w: key", errBadLength)
	}
	key, b = b[m:m+int(kl):m+int(kl)], b[m+int(kl):]
	if kind != EventPut {
		if len(b) != 0 {
			return 0, "", nil, 0, nil, errTrailing
		}
		return kind, c, key, 0, nil, nil
	}
	if len(b) < 1 {
		return 0, "", nil, 0, nil, errShort
	}
	flags := b[0]
	b = b[1:]
	if flags&^flagExpires != 0 {
		return 0, "", nil, 0, nil, fmt.Errorf("%w %#x", errFlags, flags)
	}
	if flags&flagExpires != 0 {
		if len(b) < 8 {
			return 0, "", nil, 0, nil, errShort
		}
		expMs = int64(binary.BigEndian.Uint64(b))
		if expMs <= 0 {
			return 0, "", nil, 0, nil, errBadExpiry
		}
		b = b[8:]
	}
	return kind, c, key, expMs, b, nil
}

// An expiry index entry: 0x00 'x' | expires unix ms u64 BE | data key →
// mod rev u64 BE.

func appendExpiryKey(dst []byte, expMs int64, dk []byte) []byte {
	dst = append(dst, prefixExpiry...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(expMs))
	return append(dst, dk...)
}

func decodeExpiryKey(k []byte) (expMs int64, dk []byte, err error) {
	if len(k) < 2+8+1 || !bytes.HasPrefix(k, prefixExpiry) {
		return 0, nil, errShort
	}
	expMs = int64(binary.BigEndian.Uint64(k[2:10]))
	if expMs <= 0 {
		return 0, nil, errBadExpiry
	}
	dk = k[10:]
	if _, _, ok := splitDataKey(dk); !ok {
		return 0, nil, fmt.Errorf("%w: data key", errBadLength)
	}
	return expMs, dk, nil
}

// Meta values and the expiry index's values are fixed-width big-endian
// integers.

func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

func decodeU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d bytes, want 8", errBadLength, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func decodeU32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: %d bytes, want 4", errBadLength, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// Expiry times are whole milliseconds since 1970. A value with expiry e
// is expired at time t when t's millisecond count is e or later.

// toMs returns t in unix milliseconds; the zero time is 0 (no expiry).
func toMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMs is the inverse of toMs, in UTC.
func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// expiredAt reports whether a value with expiry expMs (0: none) is
// expired at nowMs.
func expiredAt(expMs, nowMs int64) bool { return expMs != 0 && nowMs >= expMs }

func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }
