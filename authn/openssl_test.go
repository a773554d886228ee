package authn_test

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/authn"
)

// TestOpenSSLInterop verifies tokens signed by an independent
// implementation, the openssl command line, with keys made by openssl
// genpkey, for every supported algorithm; the same token with a changed
// payload must be refused. Skipped when openssl is not installed, unless CI is set.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed and CI is set (.ci/run installs it)")
		}
		t.Skip("openssl not installed; CI runs this test")
	}
	dir := t.TempDir()
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), openssl, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	secret := strings.Repeat("0123456789abcdef", 8) // 64 bytes
	genKeys := map[string][]string{
		"RS":      {"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"},
		"P-256":   {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
		"P-384":   {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"},
		"Ed25519": {"-algorithm", "ED25519"},
	}
	keyFiles := map[string]string{}
	key := func(kind string) (priv string, pub []byte) {
		t.Helper()
		if keyFiles[kind] == "" {
			p := filepath.Join(dir, kind+".pem")
			run(nil, append(append([]string{"genpkey"}, genKeys[kind]...), "-out", p)...)
			keyFiles[kind] = p
		}
		return keyFiles[kind], run(nil, "pkey", "-in", keyFiles[kind], "-pubout")
	}
	const claims = `{"iss":"amaters-test","sub":"alice","aud":"amaters","exp":1750003600,"roles":["user"]}`
	for _, alg := range authn.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			input := enc(`{"alg":"`+alg+`","typ":"JWT"}`) + "." + enc(claims)
			in := filepath.Join(dir, alg+".in")
			if err := os.WriteFile(in, []byte(input), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := authn.JWTConfig{Algorithm: alg, Issuer: "amaters-test", Audience: "amaters"}
			digest := "-sha" + strings.TrimPrefix(strings.TrimPrefix(alg, "HS"), "RS")
			var sig []byte
			switch alg[:2] {
			case "HS":
				cfg.Secret = authn.Secret(secret)
				sig = run(nil, "dgst", digest, "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString([]byte(secret)), "-binary", in)
			case "RS":
				priv, pub := key("RS")
				cfg.PublicKeyPEM = pub
				sig = run(nil, "dgst", digest, "-sign", priv, "-binary", in)
			case "ES":
				curve, size := "P-256", 32
				if alg == "ES384" {
					curve, size = "P-384", 48
				}
				priv, pub := key(curve)
				cfg.PublicKeyPEM = pub
				sig = rawECDSA(t, run(nil, "dgst", "-sha"+alg[2:], "-sign", priv, "-binary", in), size)
			case "Ed":
				priv, pub := key("Ed25519")
				cfg.PublicKeyPEM = pub
				sig = run(nil, "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", in)
			}
			v := newVerifier(t, cfg)
			tok := input + "." + encBytes(sig)
			id, err := v.Verify(tok, testNow())
			if err != nil || id.Subject != "alice" {
				t.Fatalf("openssl-signed token: %+v, %v", id, err)
			}
			forged := enc(`{"alg":"`+alg+`","typ":"JWT"}`) + "." + enc(strings.Replace(claims, "alice", "alicf", 1)) + "." + encBytes(sig)
			_, err = v.Verify(forged, testNow())
			wantReason(t, err, authn.ReasonSignature)
		})
	}
}

// rawECDSA converts openssl's DER ECDSA signature to the JWS r||s form.
func rawECDSA(t *testing.T, der []byte, size int) []byte {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out
}
