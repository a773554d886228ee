package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"amaters-server/rbac"
	"amaters-server/server/store"
)

const maxBatchOps = 10000

// strictBase64 is standard base64 that refuses non-canonical padding bits.
// It is made once: Strict returns a new Encoding on every call.
var strictBase64 = base64.StdEncoding.Strict()

// batchLimits are the limits a batch is checked against.
type batchLimits struct {
	maxKey, maxValue int64
}

// decodeBatch reads and checks a whole batch: it either returns every op,
// valid, or an error naming the first bad one.
//
// The body is {"ops":[{"op":"set"|"delete"|"check","collection":c,
// "key":b64,"value":b64,"if_revision":N,"ttl":S},...]} (API.md §7). It is read token by token, so that the checks are
// strict and the messages speak of the request, not of Go: member names
// must match exactly (case-sensitively), no member may be given twice,
// unknown members, wrong JSON types, trailing data and more than
// maxBatchOps ops are errors. A null member counts as absent, as it did
// when the body was decoded into a struct ("ops":null is "no ops array",
// "value":null on a delete is fine).
func decodeBatch(r io.Reader, lim batchLimits) ([]batchOp, error) {
	// Most batches are well-formed and not huge: read them whole and scan
	// them in one pass (batchfast.go). Everything else, valid or not, goes
	// through the token walk below, which has the messages; a body too
	// large to hold is walked as it arrives.
	data, err := io.ReadAll(io.LimitReader(r, fastBatchBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge(mbe)
		}
		if ae := (*apiError)(nil); errors.As(err, &ae) { // the body budget's 503
			return nil, ae
		}
		return nil, errInvalid("batch body could not be read: %v", err)
	}
	if len(data) <= fastBatchBytes {
		if ops, ok := decodeBatchFast(data, lim); ok {
			return ops, nil
		}
		return decodeBatchTokens(bytes.NewReader(data), lim)
	}
	return decodeBatchTokens(io.MultiReader(bytes.NewReader(data), r), lim)
}

// decodeBatchTokens is decodeBatch's token walk.
func decodeBatchTokens(r io.Reader, lim batchLimits) ([]batchOp, error) {
	b := batchDecoder{dec: json.NewDecoder(r), lim: lim}
	// Numbers (if_revision, ttl) are checked as text; UseNumber keeps the
	// decoder from converting them (and from failing on 1e400 with a Go
	// type name).
	b.dec.UseNumber()
	ops, err := b.body()
	if err != nil {
		return nil, err
	}
	if _, err := b.dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge(mbe)
		}
		return nil, errInvalid("batch body has data after the JSON object")
	}
	if ops == nil {
		return nil, errInvalid("batch body needs an \"ops\" array")
	}
	return ops, nil
}

// batchDecoder walks one batch body.
type batchDecoder struct {
	dec *json.Decoder
	lim batchLimits
}

// token returns the next token, turning read and syntax errors into
// API errors.
func (b *batchDecoder) token() (json.Token, error) {
	t, err := b.dec.Token()
	if err != nil {
		return nil, b.readError(err)
	}
	return t, nil
}

// readError is the API error for an error of json.Decoder.Token. The byte
// offset given is where the bad token starts (for a string with a bad
// escape, the string's opening quote).
func (b *batchDecoder) readError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var ae *apiError
	switch {
	case errors.As(err, &mbe):
		return errBodyTooLarge(mbe)
	case errors.As(err, &ae): // the body budget's 503
		return ae
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errInvalid("batch body is not valid JSON: it ends early, at byte offset %d", b.dec.InputOffset())
	case errors.As(err, &se):
		return errInvalid("batch body is not valid JSON: %s (in the token at byte offset %d)", se.Error(), b.dec.InputOffset())
	default:
		return errInvalid("batch body could not be read: %v", err)
	}
}

func errBodyTooLarge(mbe *http.MaxBytesError) error {
	return errTooLarge("request body is larger than %d bytes (middleware.max_body_bytes)", mbe.Limit)
}

// body reads the top-level value. It returns nil ops (and no error) when
// there is no "ops" array: null, {} or {"ops":null}.
func (b *batchDecoder) body() ([]batchOp, error) {
	t, err := b.dec.Token()
	if err == io.EOF {
		return nil, errInvalid("batch body is empty; it must be a JSON object {\"ops\":[...]}")
	}
	if err != nil {
		return nil, b.readError(err)
	}
	if t == nil {
		return nil, nil
	}
	if t != json.Delim('{') {
		return nil, errInvalid("batch body must be a JSON object {\"ops\":[...]}, not %s", jsonKind(t))
	}
	var ops []batchOp
	seen := false
	for {
		t, err := b.token()
		if err != nil {
			return nil, err
		}
		if t == json.Delim('}') {
			return ops, nil
		}
		// In an object, Token returns only member names or '}'.
		name, _ := t.(string)
		if name != "ops" {
			return nil, errInvalid("batch body: member %q is not known; the only member is \"ops\" (names are case-sensitive)", truncate(name, 64))
		}
		if seen {
			return nil, errInvalid("batch body: member \"ops\" is given twice")
		}
		seen = true
		if ops, err = b.ops(); err != nil {
			return nil, err
		}
	}
}

// ops reads the value of "ops": nil for null, else every op, checked.
// Reading stops at op maxBatchOps+1, so a huge batch is refused without
// being held in memory.
func (b *batchDecoder) ops() ([]batchOp, error) {
	t, err := b.token()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nil
	}
	if t != json.Delim('[') {
		return nil, errInvalid("\"ops\" must be an array of objects, not %s", jsonKind(t))
	}
	ops := []batchOp{}
	for i := 0; ; i++ {
		t, err := b.token()
		if err != nil {
			return nil, err
		}
		if t == json.Delim(']') {
			return ops, nil
		}
		if i == maxBatchOps {
			return nil, errTooLarge("batch has more than %d ops, the limit", maxBatchOps)
		}
		if t != json.Delim('{') {
			return nil, errInvalid("\"ops\" must be an array of objects; ops[%d] is %s", i, jsonKind(t))
		}
		op, err := b.op(i)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
}

// opMembers are the members of an op, in the order the messages list them.
var opMembers = [...]string{"op", "collection", "key", "value", "if_revision", "ttl"}

const (
	memberOp = iota
	memberCollection
	memberKey
	memberValue
	memberIfRevision // a number
	memberTTL        // a number
)

// op reads and checks ops[i], whose '{' has been read.
func (b *batchDecoder) op(i int) (batchOp, error) {
	var (
		val     [len(opMembers)]string
		present [len(opMembers)]bool // given and not null
		seen    [len(opMembers)]bool // given at all
	)
	for {
		t, err := b.token()
		if err != nil {
			return batchOp{}, err
		}
		if t == json.Delim('}') {
			break
		}
		name, _ := t.(string)
		m := 0
		for m < len(opMembers) && opMembers[m] != name {
			m++
		}
		if m == len(opMembers) {
			return batchOp{}, errInvalid("ops[%d]: member %q is not one of op, collection, key, value, if_revision, ttl (names are case-sensitive)", i, truncate(name, 64))
		}
		if seen[m] {
			return batchOp{}, errInvalid("ops[%d]: member %q is given twice", i, name)
		}
		seen[m] = true
		v, err := b.token()
		if err != nil {
			return batchOp{}, err
		}
		number := m == memberIfRevision || m == memberTTL
		switch v := v.(type) {
		case string:
			if number {
				return batchOp{}, errInvalid("ops[%d]: %q must be a number, not a string", i, name)
			}
			val[m], present[m] = v, true
		case json.Number:
			if !number {
				return batchOp{}, errInvalid("ops[%d]: %q must be a string, not a number", i, name)
			}
			val[m], present[m] = string(v), true
		case nil: // null: as if absent
		default:
			if number {
				return batchOp{}, errInvalid("ops[%d]: %q must be a number, not %s", i, name, jsonKind(v))
			}
			return batchOp{}, errInvalid("ops[%d]: %q must be a string, not %s", i, name, jsonKind(v))
		}
	}
	return checkOp(i, val, present, b.lim)
}

// checkOp builds ops[i] from its members (strings as given, numbers as
// their JSON text) and checks it; the token walk and the fast path share
// it, so they accept the same ops.
func checkOp(i int, val [len(opMembers)]string, present [len(opMembers)]bool, lim batchLimits) (batchOp, error) {
	c := val[memberCollection]
	if err := checkCollection(c); err != nil {
		return batchOp{}, errInvalid("ops[%d]: collection name %q must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", i, truncate(c, 140))
	}
	if !present[memberKey] {
		return batchOp{}, errInvalid("ops[%d]: key is missing", i)
	}
	key, err := strictBase64.DecodeString(val[memberKey])
	if err != nil {
		return batchOp{}, errInvalid("ops[%d]: key is not standard base64", i)
	}
	if len(key) == 0 {
		return batchOp{}, errInvalid("ops[%d]: key must not be empty", i)
	}
	if int64(len(key)) > lim.maxKey {
		return batchOp{}, errTooLarge("ops[%d]: key is %d bytes; the limit (storage.max_key_bytes) is %d", i, len(key), lim.maxKey)
	}
	op := batchOp{Collection: c, Key: key}
	if present[memberIfRevision] {
		n, ok := parseRevision(val[memberIfRevision])
		if !ok {
			return batchOp{}, errInvalid("ops[%d]: if_revision must be a whole number ≥ 0 (0: the key is absent)", i)
		}
		if n == 0 {
			op.Guard = store.Guard{Kind: store.GuardAbsent}
		} else {
			op.Guard = store.Guard{Kind: store.GuardRevision, Revision: n}
		}
	}
	switch o := val[memberOp]; o {
	case "set":
		if !present[memberValue] {
			return batchOp{}, errInvalid("ops[%d]: set needs a value (\"\" for an empty value)", i)
		}
		v, err := strictBase64.DecodeString(val[memberValue])
		if err != nil {
			return batchOp{}, errInvalid("ops[%d]: value is not standard base64", i)
		}
		if int64(len(v)) > lim.maxValue {
			return batchOp{}, errTooLarge("ops[%d]: value is %d bytes; the limit (storage.max_value_bytes) is %d", i, len(v), lim.maxValue)
		}
		op.Kind, op.Value = store.OpPut, v
		if present[memberTTL] {
			n, ok := parseRevision(val[memberTTL])
			if !ok || n < 1 || n > maxTTL {
				return batchOp{}, errInvalid("ops[%d]: ttl must be a whole number of seconds from 1 to %d", i, maxTTL)
			}
			op.TTL = int64(n)
		}
	case "delete", "check":
		if present[memberValue] {
			return batchOp{}, errInvalid("ops[%d]: %s takes no value", i, o)
		}
		if present[memberTTL] {
			return batchOp{}, errInvalid("ops[%d]: %s takes no ttl", i, o)
		}
		op.Kind = store.OpDelete
		if o == "check" {
			if !present[memberIfRevision] {
				return batchOp{}, errInvalid("ops[%d]: check needs an if_revision", i)
			}
			op.Kind = store.OpCheck
		}
	default:
		return batchOp{}, errInvalid("ops[%d]: op %q is not \"set\", \"delete\" or \"check\"", i, truncate(o, 32))
	}
	return op, nil
}

// parseRevision reads a JSON number that is a whole number ≥ 0 written
// plainly (no sign, fraction or exponent).
func parseRevision(s string) (uint64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// jsonKind names the JSON type of a value token for a message.
func jsonKind(t json.Token) string {
	switch t := t.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "an unexpected value"
}

type batchResponse struct {
	Applied  int    `json:"applied"`
	Revision uint64 `json:"revision"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) error {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes())
	ops, err := decodeBatch(body, batchLimits{maxKey: s.cfg.Storage.MaxKeyBytes, maxValue: s.cfg.Storage.MaxValueBytes})
	if err != nil {
		return err
	}
	// Every op is authorized before any is applied (all or nothing); a
	// check reads.
	type access struct {
		c string
		a rbac.Action
	}
	seen := map[access]bool{}
	for _, o := range ops {
		a := access{o.Collection, rbac.Write}
		if o.Kind == store.OpCheck {
			a.a = rbac.Read
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		if err := s.authorize(r, a.a, rbac.Collection(a.c)); err != nil {
			return err
		}
	}
	now := s.now()
	req := store.Request{Ops: make([]store.Op, len(ops)), Now: now}
	for i, o := range ops {
		req.Ops[i] = store.Op{Kind: o.Kind, Collection: o.Collection, Key: o.Key, Value: o.Value, Guard: o.Guard}
		if o.TTL > 0 {
			req.Ops[i].ExpiresAt = now.Add(time.Duration(o.TTL) * time.Second)
		}
	}
	res, err := s.store.Write(r.Context(), opBatch, req, nil)
	if err != nil {
		return writeFailure(res, err, true)
	}
	w.Header()[revisionHeader] = []string{strconv.FormatUint(res.Revision, 10)}
	writeJSON(w, http.StatusOK, batchResponse{Applied: len(ops), Revision: res.Revision})
	return nil
}
