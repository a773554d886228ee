package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"amaters-server/server/store"
)

// TestDecodeBatchStrict checks decodeBatch's answer to bodies good and bad:
// the ops, or the status and a part of the message.
func TestDecodeBatchStrict(t *testing.T) {
	lim := batchLimits{maxKey: 16, maxValue: 8}
	// op wraps members into a one-op batch.
	op := func(members string) string { return `{"ops":[{` + members + `}]}` }
	const good = `"op":"set","collection":"a","key":"YQ==","value":"dg=="`
	cases := []struct {
		name, body string
		status     int    // 0: accepted
		msg        string // part of the message
		ops        []batchOp
	}{
		// What the struct-based decoder did, kept.
		{name: "empty body", body: "", status: 400, msg: `batch body is empty; it must be a JSON object {"ops":[...]}`},
		{name: "top-level array", body: `[]`, status: 400, msg: `batch body must be a JSON object {"ops":[...]}, not an array`},
		{name: "top-level string", body: `"ops"`, status: 400, msg: `batch body must be a JSON object {"ops":[...]}, not a string`},
		{name: "top-level null", body: `null`, status: 400, msg: `batch body needs an "ops" array`},
		{name: "no ops", body: `{}`, status: 400, msg: `batch body needs an "ops" array`},
		{name: "null ops", body: `{"ops":null}`, status: 400, msg: `batch body needs an "ops" array`},
		{name: "no op at all", body: `{"ops":[]}`, ops: []batchOp{}},
		{name: "null key is missing", body: op(`"op":"set","collection":"a","key":null,"value":""`), status: 400, msg: `ops[0]: key is missing`},
		{name: "null value on delete", body: op(`"op":"delete","collection":"a","key":"YQ==","value":null`),
			ops: []batchOp{{Kind: store.OpDelete, Collection: "a", Key: []byte("a")}}},

		// Member names: exact, known, once.
		{name: "upper-case op", body: `{"ops":[` + strings.Repeat(`{`+good+`},`, 3) + `{"OP":"set","collection":"a","key":"YQ==","value":""}]}`,
			status: 400, msg: `ops[3]: member "OP" is not one of op, collection, key, value, if_revision, ttl (names are case-sensitive)`},
		{name: "title-case key", body: op(`"op":"set","collection":"a","Key":"YQ==","value":""`), status: 400, msg: `ops[0]: member "Key" is not one of op, collection, key, value, if_revision, ttl (names are case-sensitive)`},
		{name: "unknown member", body: op(good + `,"tl":"1"`), status: 400, msg: `ops[0]: member "tl" is not one of op, collection, key, value, if_revision, ttl`},
		{name: "ttl as a string", body: op(good + `,"ttl":"1"`), status: 400, msg: `ops[0]: "ttl" must be a number, not a string`},
		{name: "op given twice", body: op(`"op":"delete","op":"set","collection":"a","key":"YQ==","value":""`), status: 400, msg: `ops[0]: member "op" is given twice`},
		{name: "value given twice", body: op(good + `,"value":""`), status: 400, msg: `ops[0]: member "value" is given twice`},
		{name: "twice, once null", body: op(`"op":"set","collection":"a","key":null,"key":"YQ==","value":""`), status: 400, msg: `ops[0]: member "key" is given twice`},
		{name: "twice, once escaped", body: op(`"op":"set","o\u0070":"delete","collection":"a","key":"YQ==","value":""`), status: 400, msg: `ops[0]: member "op" is given twice`},
		{name: "upper-case OPS", body: `{"OPS":[]}`, status: 400, msg: `batch body: member "OPS" is not known; the only member is "ops" (names are case-sensitive)`},
		{name: "unknown top member", body: `{"ops":[],"dry_run":true}`, status: 400, msg: `batch body: member "dry_run" is not known`},
		{name: "ops given twice", body: `{"ops":[],"ops":[]}`, status: 400, msg: `batch body: member "ops" is given twice`},

		// Wrong JSON types, said in JSON words.
		{name: "ops an object", body: `{"ops":{}}`, status: 400, msg: `"ops" must be an array of objects, not an object`},
		{name: "ops a string", body: `{"ops":"set"}`, status: 400, msg: `"ops" must be an array of objects, not a string`},
		{name: "op an array", body: `{"ops":[{` + good + `},[]]}`, status: 400, msg: `"ops" must be an array of objects; ops[1] is an array`},
		{name: "op null", body: `{"ops":[null]}`, status: 400, msg: `"ops" must be an array of objects; ops[0] is null`},
		{name: "op a number", body: `{"ops":[1e400]}`, status: 400, msg: `"ops" must be an array of objects; ops[0] is a number`},
		{name: "deep nesting", body: `{"ops":[` + strings.Repeat("[", 20000), status: 400, msg: `"ops" must be an array of objects; ops[0] is an array`},
		{name: "key a number", body: `{"ops":[{` + good + `},{` + good + `},{"op":"set","collection":"a","key":1e400,"value":""}]}`,
			status: 400, msg: `ops[2]: "key" must be a string, not a number`},
		{name: "key an object", body: op(`"op":"set","collection":"a","key":{"b64":"YQ=="},"value":""`), status: 400, msg: `ops[0]: "key" must be a string, not an object`},
		{name: "op a boolean", body: op(`"op":true,"collection":"a","key":"YQ=="`), status: 400, msg: `ops[0]: "op" must be a string, not a boolean`},
		{name: "value an array", body: op(`"op":"set","collection":"a","key":"YQ==","value":[1]`), status: 400, msg: `ops[0]: "value" must be a string, not an array`},

		// JSON syntax.
		{name: "not JSON", body: `{"ops":[}`, status: 400, msg: `batch body is not valid JSON: invalid character '}' looking for beginning of value (in the token at byte offset 8)`},
		{name: "cut short", body: `{"ops":[{"op":"set"`, status: 400, msg: `batch body is not valid JSON: it ends early, at byte offset 19`},
		{name: "cut in a string", body: `{"ops":[{"op":"se`, status: 400, msg: `batch body is not valid JSON: it ends early`},
		{name: "bad escape", body: op(`"op":"set","collection":"a","key":"\u00zz","value":""`), status: 400, msg: `batch body is not valid JSON: invalid character 'z' in \u hexadecimal character escape (in the token at byte offset 43)`},
		{name: "trailing data", body: `{"ops":[]} {}`, status: 400, msg: `batch body has data after the JSON object`},
		{name: "trailing brace", body: `{"ops":[]}}`, status: 400, msg: `batch body has data after the JSON object`},
		{name: "trailing space", body: "{\"ops\":[]}\n\t ", ops: []batchOp{}},

		// The checks of each op.
		{name: "value for delete", body: op(`"op":"delete","collection":"a","key":"YQ==","value":""`), status: 400, msg: `ops[0]: delete takes no value`},
		{name: "set without value", body: op(`"op":"set","collection":"a","key":"YQ=="`), status: 400, msg: `ops[0]: set needs a value ("" for an empty value)`},
		{name: "missing key", body: op(`"op":"delete","collection":"a"`), status: 400, msg: `ops[0]: key is missing`},
		{name: "empty key", body: op(`"op":"delete","collection":"a","key":""`), status: 400, msg: `ops[0]: key must not be empty`},
		{name: "bad base64 key", body: op(`"op":"delete","collection":"a","key":"YQ"`), status: 400, msg: `ops[0]: key is not standard base64`},
		{name: "non-canonical base64 key", body: op(`"op":"delete","collection":"a","key":"YR=="`), status: 400, msg: `ops[0]: key is not standard base64`},
		{name: "bad base64 value", body: op(`"op":"set","collection":"a","key":"YQ==","value":"!!"`), status: 400, msg: `ops[0]: value is not standard base64`},
		{name: "unknown op", body: op(`"op":"put","collection":"a","key":"YQ=="`), status: 400, msg: `ops[0]: op "put" is not "set", "delete" or "check"`},
		{name: "missing op", body: op(`"collection":"a","key":"YQ=="`), status: 400, msg: `ops[0]: op "" is not "set", "delete" or "check"`},
		{name: "bad collection", body: op(`"op":"delete","collection":"-a","key":"YQ=="`), status: 400, msg: `ops[0]: collection name "-a" must match`},
		{name: "key too large", body: op(`"op":"delete","collection":"a","key":"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 17))) + `"`), status: 413, msg: `ops[0]: key is 17 bytes; the limit (storage.max_key_bytes) is 16`},
		{name: "value too large", body: op(`"op":"set","collection":"a","key":"YQ==","value":"` + base64.StdEncoding.EncodeToString([]byte("123456789")) + `"`), status: 413, msg: `ops[0]: value is 9 bytes; the limit (storage.max_value_bytes) is 8`},

		{name: "valid batch", body: `{"ops":[
			{"op":"set","collection":"a","key":"YQ==","value":"dg=="},
			{"value":"","key":"Yg==","collection":"b.c","op":"set"},
			{"op":"delete","collection":"a","key":"AAE="},
			{"o\u0070":"delete","collection":"a","key":"Yw=="}
		]}`, ops: []batchOp{
			{Collection: "a", Key: []byte("a"), Value: []byte("v")},
			{Collection: "b.c", Key: []byte("b"), Value: []byte{}},
			{Kind: store.OpDelete, Collection: "a", Key: []byte{0, 1}},
			{Kind: store.OpDelete, Collection: "a", Key: []byte("c")},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := decodeBatch(strings.NewReader(tc.body), lim)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ops == nil || len(ops) != len(tc.ops) {
					t.Fatalf("got %d ops (nil: %v), want %d", len(ops), ops == nil, len(tc.ops))
				}
				for i, want := range tc.ops {
					got := ops[i]
					if got.Kind != kindOr(want.Kind) || got.Collection != want.Collection || !bytes.Equal(got.Key, want.Key) ||
						!bytes.Equal(got.Value, want.Value) || (got.Kind == store.OpPut && got.Value == nil) {
						t.Errorf("op %d = %+v, want %+v", i, got, want)
					}
				}
				return
			}
			checkBatchError(t, err, tc.status, tc.msg)
		})
	}
}

// checkBatchError checks that err is an API error with the status, a
// message holding msg, and no words of Go in it.
func checkBatchError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an API error", err, err)
	}
	if ae.status != status || !strings.Contains(ae.message, msg) {
		t.Fatalf("got %d %q, want %d with %q", ae.status, ae.message, status, msg)
	}
	for _, bad := range []string{"Go ", "struct", "server.", "[]", "json:", "float64", "interface"} {
		if strings.Contains(ae.message, bad) {
			t.Errorf("message %q has %q in it", ae.message, bad)
		}
	}
}

// batchCountingReader counts the bytes read from r.
type batchCountingReader struct {
	r io.Reader
	n int64
}

func (c *batchCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestDecodeBatchTooManyOps checks that a batch of more than maxBatchOps
// ops is too large, and that decodeBatch stops reading soon after the
// first op too many (or after the part it reads whole for the fast path,
// when that is more).
func TestDecodeBatchTooManyOps(t *testing.T) {
	const one = `{"op":"delete","collection":"a","key":"YQ=="},`
	lim := batchLimits{maxKey: 16, maxValue: 8}

	exact := `{"ops":[` + strings.Repeat(one, maxBatchOps-1) + strings.TrimSuffix(one, ",") + `]}`
	if ops, err := decodeBatch(strings.NewReader(exact), lim); err != nil || len(ops) != maxBatchOps {
		t.Fatalf("%d ops: %d, %v", maxBatchOps, len(ops), err)
	}

	// A million ops (47 MB), made as they are read.
	const many = 1000000
	body := &batchCountingReader{r: io.MultiReader(
		strings.NewReader(`{"ops":[`),
		io.LimitReader(&repeatReader{s: one}, int64(many*len(one))),
		strings.NewReader(`{"op":"delete","collection":"a","key":"YQ=="}]}`),
	)}
	_, err := decodeBatch(body, lim)
	checkBatchError(t, err, 413, "batch has more than 10000 ops, the limit")
	// (The first fastBatchBytes are read whole, for the fast path.)
	if max := int64(fastBatchBytes+1) + int64((maxBatchOps+1)*len(one)+1<<20); body.n > max {
		t.Fatalf("read %d bytes of the body; want at most %d", body.n, max)
	}
}

// repeatReader reads s over and over.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

// TestDecodeBatchBodyLimit checks that hitting the body limit of
// http.MaxBytesReader anywhere, trailing space included, is 413.
func TestDecodeBatchBodyLimit(t *testing.T) {
	lim := batchLimits{maxKey: 16, maxValue: 1 << 20}
	valid := `{"ops":[{"op":"set","collection":"a","key":"YQ==","value":"` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("v", 300))) + `"}]}`
	for name, body := range map[string]string{
		"in a value":     valid,
		"in the array":   `{"ops":[` + strings.Repeat(" ", 500),
		"trailing space": `{"ops":[]}` + strings.Repeat(" ", 500),
	} {
		t.Run(name, func(t *testing.T) {
			r := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), 100)
			_, err := decodeBatch(r, lim)
			checkBatchError(t, err, 413, "request body is larger than 100 bytes (middleware.max_body_bytes)")
		})
	}
	r := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(valid)), int64(len(valid)))
	if ops, err := decodeBatch(r, lim); err != nil || len(ops) != 1 {
		t.Fatalf("a body of exactly the limit: %d ops, %v", len(ops), err)
	}
}

// TestDecodeBatchFastPath: the common form of a batch takes the fast path
// (with whitespace, members in any order, empty values, long keys), and
// what it gives equals the token walk's answer.
func TestDecodeBatchFastPath(t *testing.T) {
	lim := batchLimits{maxKey: 4096, maxValue: 1 << 20}
	var b strings.Builder
	b.WriteString("{ \"ops\" : [\n")
	for i := range 300 {
		if i > 0 {
			b.WriteString(",\n")
		}
		key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 1+i%50) + string(rune('a'+i%26))))
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `{"op":"set","collection":"c%d","key":%q,"value":%q}`, i%2, key, base64.StdEncoding.EncodeToString([]byte(strings.Repeat("v", i))))
		case 1:
			fmt.Fprintf(&b, `{ "value" : "" , "key":%q, "collection":"c1", "op":"set" }`, key)
		default:
			fmt.Fprintf(&b, `{"collection":"c1","op":"delete","key":%q}`, key)
		}
	}
	b.WriteString("\n] }\n")
	body := []byte(b.String())
	fast, ok := decodeBatchFast(body, lim)
	if !ok {
		t.Fatal("the common form of a batch did not take the fast path")
	}
	slow, err := decodeBatchTokens(bytes.NewReader(body), lim)
	if err != nil {
		t.Fatal(err)
	}
	checkSameOps(t, fast, slow)
	if _, ok := decodeBatchFast([]byte(`{"ops":[]}`), lim); !ok {
		t.Error(`{"ops":[]} did not take the fast path`)
	}
}

func checkSameOps(t *testing.T, fast, slow []batchOp) {
	t.Helper()
	if len(fast) != len(slow) || (fast == nil) != (slow == nil) {
		t.Fatalf("fast path: %d ops (nil %v), token walk: %d (nil %v)", len(fast), fast == nil, len(slow), slow == nil)
	}
	for i := range fast {
		f, s := fast[i], slow[i]
		if f.Kind != s.Kind || f.Collection != s.Collection || !bytes.Equal(f.Key, s.Key) ||
			!bytes.Equal(f.Value, s.Value) || (f.Value == nil) != (s.Value == nil) {
			t.Fatalf("op %d: fast path %+v, token walk %+v", i, f, s)
		}
	}
}

// FuzzBatchFastPath: whatever the fast path accepts, the token walk
// accepts with the same ops.
func FuzzBatchFastPath(f *testing.F) {
	f.Add([]byte(`{"ops":[{"op":"set","collection":"a","key":"YQ==","value":"dg=="},{"op":"delete","collection":"a","key":"Yg=="}]}`))
	f.Add([]byte(`{"ops":[{"value":"","key":"YQ==","collection":"b.c","op":"set"}]}`))
	f.Add([]byte(`{"ops":[]}`))
	f.Add([]byte(` {"ops" :[ {"op":"delete","collection":"x","key":"AAE="} ] } `))
	lim := batchLimits{maxKey: 16, maxValue: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeBatchFast(data, lim)
		if !ok {
			return
		}
		slow, err := decodeBatchTokens(bytes.NewReader(data), lim)
		if err != nil {
			t.Fatalf("the fast path accepted what the token walk refuses: %v", err)
		}
		checkSameOps(t, fast, slow)
	})
}

// kindOr is an expected op's kind, a put when the case leaves it out.
func kindOr(k store.OpKind) store.OpKind {
	if k == 0 {
		return store.OpPut
	}
	return k
}
