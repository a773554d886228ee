package authn_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"amaters-server/authn"
)

// FuzzJWT feeds arbitrary tokens, and arbitrary headers and claims signed
// with the right key, to an HS256 verifier. It must never panic, and it
// may accept only what an independent check agrees with: three canonical
// base64url segments, a header that encoding/json reads with alg HS256, the
// HMAC over the first two segments, and claims that are valid JSON with a
// non-empty string sub and a numeric exp.
func FuzzJWT(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Token, []byte(`{"alg":"HS256"}`), []byte(goodClaims))
	}
	f.Add("", []byte(`{"alg":"HS256","Alg":"none"}`), []byte(`{"sub":"a","\u0073ub":"b","exp":1e10}`))
	f.Add("a.b.c", []byte(`{"alg":"HS256","crit":["x"]}`), []byte(`{"sub":"a","exp":9999999999,"aud":["amaters"],"iss":"amaters-test"}`))
	k := testKeyFor(f, "HS256")
	secret := []byte(k.cfg.Secret)
	v := newVerifier(f, k.cfg)
	f.Fuzz(func(t *testing.T, token string, header, claims []byte) {
		if id, err := v.Verify(token, testNow()); err == nil {
			checkAccepted(t, secret, token, id)
		}
		signed := sign(t, "HS256", secret, string(header), string(claims))
		if id, err := v.Verify(signed, testNow()); err == nil {
			checkAccepted(t, secret, signed, id)
		}
	})
}

func checkAccepted(t *testing.T, secret []byte, token string, id authn.Identity) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %d segments: %q", len(parts), token)
	}
	strict := base64.RawURLEncoding.Strict()
	var seg [3][]byte
	for i, p := range parts {
		b, err := strict.DecodeString(p)
		if err != nil || strict.EncodeToString(b) != p {
			t.Fatalf("accepted non-canonical segment %d: %q", i, p)
		}
		seg[i] = b
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(mac.Sum(nil), seg[2]) {
		t.Fatalf("accepted a wrong MAC: %q", token)
	}
	var hdr map[string]any
	if err := json.Unmarshal(seg[0], &hdr); err != nil || hdr["alg"] != "HS256" || hdr["crit"] != nil {
		t.Fatalf("accepted header %q (%v)", seg[0], err)
	}
	var claims map[string]any
	if err := json.Unmarshal(seg[1], &claims); err != nil {
		t.Fatalf("accepted claims encoding/json refuses: %q: %v", seg[1], err)
	}
	sub, ok := claims["sub"].(string)
	if !ok || sub == "" || sub != id.Subject {
		t.Fatalf("accepted sub %v, identity %q", claims["sub"], id.Subject)
	}
	if _, ok := claims["exp"].(float64); !ok {
		t.Fatalf("accepted exp %v", claims["exp"])
	}
}

// FuzzAPIKeysFile parses arbitrary API keys files. It must never panic, and
// whatever it accepts must be a JSON array that encoding/json reads with one
// object per key.
func FuzzAPIKeysFile(f *testing.F) {
	f.Add([]byte(`[{"id":"a","user_id":"u","key_hash":"Da+Mrj9qx3zTQh4CtI5kl4eESXRqGGUnk75THYAzcNo=","roles":["user"],"collections":["*"],"attributes":{"expires_at":"2030-01-01T00:00:00Z"}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"a"},{"id":"a"}]`))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := authn.ParseAPIKeys(data)
		if err != nil {
			if ks != nil {
				t.Fatal("non-nil set with an error")
			}
			return
		}
		var entries []map[string]any
		if err := json.Unmarshal(data, &entries); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if len(entries) != ks.Len() {
			t.Fatalf("%d entries, %d keys", len(entries), ks.Len())
		}
		for _, e := range entries {
			if e["id"] == "" || e["user_id"] == "" || e["key"] != nil {
				t.Fatalf("accepted entry %v", e)
			}
		}
	})
}
