package store

import (
	"fmt"
	"time"
)

// OpKind is what an [Op] does. Its zero value is no kind (invalid).
type OpKind uint8

const (
	// OpPut sets the key to Value, with mod revision the request's
	// revision and expiry ExpiresAt (zero: none; a PUT without expiry
	// clears the key's previous one).
	OpPut OpKind = iota + 1
	// OpDelete removes the key. It changes nothing when the key is absent
	// or expired (the expirer deletes an expired key, with its own event).
	OpDelete
	// OpCheck only asserts its Guard.
	OpCheck
	// OpExpire is the expirer's delete of the expiry index entry
	// (ExpiresAt, key) holding mod revision Guard.Revision: it removes the
	// key only if the key still has that mod revision and is expired at
	// the request's Now; otherwise it changes nothing. It also removes the
	// index entry, unless the key's current value (rewritten with the
	// same expiry since) is indexed under it. Its Guard is a condition,
	// not a precondition: it never fails the request. See
	// [Store.DueExpiries].
	OpExpire
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCheck:
		return "check"
	case OpExpire:
		return "expire"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// GuardKind is the condition a [Guard] asserts about its op's key.
type GuardKind uint8

const (
	// GuardNone asserts nothing; it is the zero value.
	GuardNone GuardKind = iota
	// GuardRevision: the key exists with mod revision Guard.Revision
	// (If-Match: "N", batch if_revision N ≥ 1).
	GuardRevision
	// GuardExists: the key exists (If-Match: *).
	GuardExists
	// GuardAbsent: the key does not exist (If-None-Match: *, batch
	// if_revision 0).
	GuardAbsent
)

func (k GuardKind) String() string {
	switch k {
	case GuardNone:
		return "none"
	case GuardRevision:
		return "revision"
	case GuardExists:
		return "exists"
	case GuardAbsent:
		return "absent"
	}
	return fmt.Sprintf("GuardKind(%d)", uint8(k))
}

// Guard is a precondition on an op's key, evaluated in the apply against
// the state before its request (see [Request]). An expired key is absent.
// The zero value asserts nothing.
type Guard struct {
	Kind     GuardKind
	Revision uint64 // for GuardRevision, at least 1
}

// Op is one operation of a [Request]. The store does not keep its slices
// once the Write or Apply that carried it returns, and does not modify
// them. The zero Op is invalid: it has no Kind.
type Op struct {
	Kind       OpKind
	Collection string // 1..128 bytes
	Key        []byte // at least 1 byte
	Value      []byte // OpPut only; nil is the empty value
	// ExpiresAt is when an OpPut's value expires, after the request's
	// Now (zero: never); it is kept to the millisecond. For OpExpire, the
	// expiry of the index entry it handles.
	ExpiresAt time.Time
	Guard     Guard
}

// Request is what one write asks for: its ops apply atomically, all or
// none, and share one revision. Guards are all evaluated first, against
// the state before the request (committed state and the earlier requests
// of its group); if every guard holds, the ops apply in order, a later op
// on a key seeing the earlier ones (a DELETE after a PUT of the same key
// removes it). A request that changes nothing takes no revision; the zero
// Request is one.
type Request struct {
	Ops []Op
	// Now is the time the request was accepted: the time against which
	// expiry is judged, for guards and for DELETE. Write uses the store's
	// clock when it is zero; Apply uses it as given (the proposer fixes
	// it), and a zero Now sees nothing expired.
	Now time.Time
	// AppliedIndex is the cluster edition's raft index of the entry that
	// carried the request; when nonzero it is recorded in the same atomic
	// batch (see [Store.AppliedIndex]), and Apply skips a request whose
	// index is not above the one recorded.
	AppliedIndex uint64
}

// Result is the outcome of one request.
type Result struct {
	// Revision is the revision the request committed at when it changed
	// something, else the revision of the state it was evaluated against.
	Revision uint64
	// Changed reports whether the request took a revision.
	Changed bool
	// Err is nil, a *GuardError (ErrPreconditionFailed), an error
	// wrapping ErrInvalid, ErrAlreadyApplied, or the storage error that
	// failed the whole group.
	Err error
}

// size is the request's weight against Options.MaxGroupBytes.
func (r *Request) size() int {
	n := 0
	for i := range r.Ops {
		o := &r.Ops[i]
		n += 32 + len(o.Collection) + 2*len(o.Key) + len(o.Value)
	}
	return n
}

// validate checks what the apply cannot do; nowMs is the request's Now.
func (r *Request) validate(nowMs int64) error {
	for i := range r.Ops {
		o := &r.Ops[i]
		if len(o.Collection) == 0 || len(o.Collection) > maxCollectionLen {
			return invalid(i, "collection name of %d bytes, want 1..%d", len(o.Collection), maxCollectionLen)
		}
		if len(o.Key) == 0 {
			return invalid(i, "empty key")
		}
		switch o.Guard.Kind {
		case GuardNone, GuardExists, GuardAbsent:
			if o.Guard.Revision != 0 {
				return invalid(i, "a %s guard with a revision", o.Guard.Kind)
			}
		case GuardRevision:
			if o.Guard.Revision == 0 {
				return invalid(i, "guard revision 0")
			}
		default:
			return invalid(i, "unknown guard kind %d", o.Guard.Kind)
		}
		exp, hasExp := toMs(o.ExpiresAt), !o.ExpiresAt.IsZero()
		switch o.Kind {
		case OpPut:
			if hasExp && (exp <= 0 || exp <= nowMs) {
				return invalid(i, "expiry %v is not after the request's time", o.ExpiresAt)
			}
		case OpDelete, OpCheck:
			if hasExp {
				return invalid(i, "an expiry on a %s", o.Kind)
			}
			if len(o.Value) != 0 {
				return invalid(i, "a value on a %s", o.Kind)
			}
		case OpExpire:
			if o.Guard.Kind != GuardRevision || !hasExp || exp <= 0 {
				return invalid(i, "an expire needs the mod revision and expiry of its index entry")
			}
			if len(o.Value) != 0 {
				return invalid(i, "a value on an expire")
			}
		default:
			return invalid(i, "unknown op kind %d", o.Kind)
		}
	}
	return nil
}
