package store

import (
	"bytes"
	"testing"
)

// The decoders of everything the store writes into lsm: no input makes
// them panic, and what decodes encodes back to the same bytes (so one
// value has one encoding).

func FuzzEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, 1, 0, []byte("value")))
	f.Add(appendEnvelope(nil, 1<<40, 1_700_000_000_000, nil))
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		modRev, expMs, value, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if got := appendEnvelope(nil, modRev, expMs, value); !bytes.Equal(got, b) {
			t.Fatalf("decoded %d %d %q, encodes to %x, was %x", modRev, expMs, value, got, b)
		}
	})
}

func FuzzEvent(f *testing.F) {
	f.Add(appendEvent(nil, EventPut, "c", []byte("k"), 0, []byte("v")))
	f.Add(appendEvent(nil, EventPut, "coll", []byte("key"), 1_700_000_000_000, nil))
	f.Add(appendEvent(nil, EventDelete, "c", []byte("k"), 0, nil))
	f.Add(appendEvent(nil, EventExpire, string(bytes.Repeat([]byte("x"), 128)), bytes.Repeat([]byte("k"), 300), 0, nil))
	f.Add([]byte{1, 1, 'c', 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, c, key, expMs, value, err := decodeEvent(b)
		if err != nil {
			return
		}
		if got := appendEvent(nil, kind, c, key, expMs, value); !bytes.Equal(got, b) {
			t.Fatalf("decoded %v %q %q %d %q, encodes to %x, was %x", kind, c, key, expMs, value, got, b)
		}
	})
}

func FuzzKeys(f *testing.F) {
	f.Add(appendHistKey(nil, 7, 2))
	f.Add(appendExpiryKey(nil, 1_700_000_000_000, appendDataKey(nil, "c", []byte("k"))))
	f.Add(appendDataKey(nil, "coll", []byte("key")))
	f.Add([]byte("\x00x\x80\x00\x00\x00\x00\x00\x00\x00\x05"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rev, index, err := decodeHistKey(b); err == nil {
			if got := appendHistKey(nil, rev, index); !bytes.Equal(got, b) {
				t.Fatalf("history key %x decodes to %d/%d, encodes to %x", b, rev, index, got)
			}
		}
		if expMs, dk, err := decodeExpiryKey(b); err == nil {
			if got := appendExpiryKey(nil, expMs, dk); !bytes.Equal(got, b) {
				t.Fatalf("expiry key %x decodes to %d %x, encodes to %x", b, expMs, dk, got)
			}
		}
		if c, key, ok := splitDataKey(b); ok {
			if got := appendDataKey(nil, c, key); !bytes.Equal(got, b) {
				t.Fatalf("data key %x splits to %q %q, encodes to %x", b, c, key, got)
			}
		}
	})
}

func FuzzMeta(f *testing.F) {
	f.Add(appendU64(nil, 42))
	f.Add(appendU32(nil, formatVersion))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := decodeU64(b); err == nil && !bytes.Equal(appendU64(nil, v), b) {
			t.Fatalf("u64 %x round trips to %x", b, appendU64(nil, v))
		}
		if v, err := decodeU32(b); err == nil && !bytes.Equal(appendU32(nil, v), b) {
			t.Fatalf("u32 %x round trips to %x", b, appendU32(nil, v))
		}
	})
}
