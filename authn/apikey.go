package authn

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
)

// MaxAPIKeyBytes caps the length of a presented API key.
const MaxAPIKeyBytes = 1 << 10

// A KeySet is a parsed API keys file: a JSON array of entries
//
//	[
//	  {
//	    "id": "ci-deploy",
//	    "name": "CI deploy key",
//	    "key_hash": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
//	    "user_id": "ci",
//	    "roles": ["user"],
//	    "collections": ["builds", "artifacts"],
//	    "attributes": {"expires_at": "2027-01-01T00:00:00Z"}
//	  }
//	]
//
// where key_hash is the standard base64 encoding of the SHA-256 digest of the
// key (see [HashAPIKey]); the keys themselves are never stored. id, user_id
// and key_hash are required, ids and hashes must be unique, and
// attributes.expires_at (RFC 3339), when present, ends the key's validity.
// Other attributes are accepted and ignored, as are name and description;
// any other member is an error, and so is a plaintext "key" member.
//
// A KeySet is immutable and safe for concurrent use. The zero value holds no
// keys. Reload by parsing the file again and swapping the pointer.
type KeySet struct {
	entries []keyEntry
	path    string // the file it was loaded from, for messages; "" if parsed
}

type keyEntry struct {
	hash        [sha256.Size]byte
	id          string
	userID      string
	roles       []string
	collections []string
	expiresAt   time.Time
}

// fileEntry is the JSON form of one entry.
type fileEntry struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	KeyHash     string            `json:"key_hash"`
	Key         *string           `json:"key"`
	UserID      string            `json:"user_id"`
	Roles       []string          `json:"roles"`
	Collections []string          `json:"collections"`
	Attributes  map[string]string `json:"attributes"`
}

// HashAPIKey returns the key_hash of key for an API keys file: standard
// base64 of SHA-256(key). The same value comes from
// `printf %s "$KEY" | openssl dgst -sha256 -binary | base64`.
func HashAPIKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return base64.StdEncoding.EncodeToString(h[:])
}

// LoadAPIKeys reads and parses an API keys file; errors name the file.
func LoadAPIKeys(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authn: api keys file: %w", err)
	}
	ks, err := ParseAPIKeys(data)
	if err != nil {
		return nil, prefixEach(path, err)
	}
	ks.path = path
	return ks, nil
}

// prefixEach prefixes every problem of err (an errors.Join of them, or a
// single one) with p, keeping them separate so callers can print one per
// line.
func prefixEach(p string, err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return fmt.Errorf("%s: %w", p, err)
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, fmt.Errorf("%s: %w", p, e))
	}
	return errors.Join(errs...)
}

// ParseAPIKeys parses the contents of an API keys file (see [KeySet]). It
// reports every invalid entry at once, each with its position and id.
func ParseAPIKeys(data []byte) (*KeySet, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("authn: api keys: empty file; want a JSON array of key entries")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, jsonFileError(data, err)
	}
	if raw == nil {
		return nil, errors.New("authn: api keys: want a JSON array of key entries, got null")
	}
	ks := &KeySet{entries: make([]keyEntry, 0, len(raw))}
	ids := make(map[string]int, len(raw))
	hashes := make(map[[sha256.Size]byte]int, len(raw))
	var errs []error
	for i, r := range raw {
		var f fileEntry
		where, err := decodeEntry(r, i, &f)
		if err != nil {
			errs = append(errs, fmt.Errorf("authn: api keys: %s: %w", where, err))
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("authn: api keys: %s: "+format, append([]any{where}, args...)...))
		}
		e := keyEntry{id: f.ID, userID: f.UserID}
		if f.ID == "" {
			bad("id is required")
		} else if j, dup := ids[f.ID]; dup {
			bad("duplicate id, also used by entry #%d", j+1)
		} else {
			ids[f.ID] = i
		}
		if f.UserID == "" {
			bad("user_id is required: it becomes the identity's subject")
		}
		if f.Key != nil {
			bad(`plaintext "key" is not accepted; store "key_hash": base64(SHA-256(key)) instead`)
		}
		switch h, err := base64.StdEncoding.Strict().DecodeString(f.KeyHash); {
		case f.KeyHash == "":
			bad("key_hash is required")
		case err != nil || len(h) != sha256.Size:
			bad("key_hash must be the standard base64 of a 32-byte SHA-256 digest (44 characters ending in '=')")
		default:
			copy(e.hash[:], h)
			if j, dup := hashes[e.hash]; dup {
				bad("same key_hash as entry #%d", j+1)
			} else {
				hashes[e.hash] = i
			}
		}
		if slices.Contains(f.Roles, "") {
			bad("roles must not contain an empty name")
		}
		if slices.Contains(f.Collections, "") {
			bad("collections must not contain an empty name")
		}
		e.roles = slices.Clip(f.Roles)
		e.collections = slices.Clip(f.Collections)
		// Other attributes are the operator's own and ignored, but a
		// misspelt expiry would leave a key that never expires.
		for name := range f.Attributes {
			if name != "expires_at" && looksLikeExpiry(name) {
				bad("attributes.%s: did you mean attributes.expires_at? (as written, the key would never expire)", name)
			}
		}
		if s, ok := f.Attributes["expires_at"]; ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				bad("attributes.expires_at %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", s)
			}
			e.expiresAt = t
		}
		ks.entries = append(ks.entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ks, nil
}

// looksLikeExpiry reports whether an attribute name is a spelling of
// expires_at (expiresAt, Expires-At, expiry, expiration, exp,
// valid_until, not_after).
func looksLikeExpiry(name string) bool {
	n := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == ' ' {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	return n == "exp" || strings.HasPrefix(n, "expir") || n == "validuntil" || n == "notafter"
}

// Len returns the number of keys in the set.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.entries)
}

// CheckRoles reports, one error per problem (each naming the file, as
// LoadAPIKeys does), the entries that name a role for which defined is
// false (the server checks them against its roles, so that a typo is
// refused at load instead of leaving a key with no rights).
func (ks *KeySet) CheckRoles(defined func(role string) bool) error {
	if ks == nil {
		return nil
	}
	var errs []error
	for i, e := range ks.entries {
		for _, r := range e.roles {
			if !defined(r) {
				errs = append(errs, fmt.Errorf("authn: api keys: entry #%d (id %q): role %q is not defined", i+1, e.id, r))
			}
		}
	}
	if len(errs) == 0 || ks.path == "" {
		return errors.Join(errs...)
	}
	return prefixEach(ks.path, errors.Join(errs...))
}

// lookup identifies the holder of key at time now.
//
// The presented key is hashed and compared with every entry in constant
// time, and the matching index is selected without branching, so neither
// the stored hashes nor which entry matched show in the timing. The cost is
// linear in the number of keys (about 20 ns per key), which is fine for the
// hundreds of keys a server has.
func (ks *KeySet) lookup(key string, now time.Time) (Identity, error) {
	h := sha256.Sum256([]byte(key))
	found, at := 0, 0
	for i := range ks.entries {
		eq := subtle.ConstantTimeCompare(h[:], ks.entries[i].hash[:])
		at = subtle.ConstantTimeSelect(eq, i, at)
		found |= eq
	}
	if found != 1 {
		return Identity{}, fail(MethodAPIKey, ReasonUnknownKey)
	}
	e := &ks.entries[at]
	if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
		return Identity{}, fail(MethodAPIKey, ReasonExpired)
	}
	return Identity{
		Subject:     e.userID,
		Method:      MethodAPIKey,
		Roles:       e.roles,
		Collections: e.collections,
		KeyID:       e.id,
		ExpiresAt:   e.expiresAt,
	}, nil
}

// knownMembers lists the members of a key entry, for error messages.
const knownMembers = "id, name, description, key_hash, user_id, roles, collections, attributes"

func isKnownMember(name string) bool {
	switch name {
	case "id", "name", "description", "key_hash", "key", "user_id", "roles", "collections", "attributes":
		return true
	}
	return false
}

// decodeEntry decodes entry i into f and returns how to name it in errors.
// Member names are matched exactly (encoding/json alone would also take
// "ID" for "id"), and unknown members are reported by name.
func decodeEntry(r json.RawMessage, i int, f *fileEntry) (string, error) {
	where := fmt.Sprintf("entry #%d", i+1)
	var members map[string]json.RawMessage
	if err := json.Unmarshal(r, &members); err != nil || members == nil {
		return where, errors.New("want a JSON object")
	}
	if id, ok := members["id"]; ok {
		var s string
		if json.Unmarshal(id, &s) == nil && s != "" {
			where += fmt.Sprintf(" (id %q)", s)
		}
	}
	var unknown []string
	for name := range members {
		if !isKnownMember(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return where, fmt.Errorf("unknown member %q (known: %s)", unknown[0], knownMembers)
	}
	if err := json.Unmarshal(r, f); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return where, fmt.Errorf("%s: got JSON %s, want %s", typ.Field, typ.Value, jsonKind(typ.Type.String()))
		}
		return where, err
	}
	return where, nil
}

// jsonFileError makes an encoding/json error readable: the line for syntax
// errors, the member and the expected type for type errors.
func jsonFileError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("authn: api keys: line %d: %w", lineOf(data, int(syn.Offset)), err)
	case errors.As(err, &typ):
		return fmt.Errorf("authn: api keys: got JSON %s, want an array of key entries", typ.Value)
	}
	return fmt.Errorf("authn: api keys: %w", err)
}

func jsonKind(goType string) string {
	switch goType {
	case "[]string":
		return "an array of strings"
	case "map[string]string":
		return "an object of strings"
	}
	return "a " + goType
}

func lineOf(data []byte, offset int) int {
	offset = min(max(offset, 0), len(data))
	return 1 + bytes.Count(data[:offset], []byte{'\n'})
}
