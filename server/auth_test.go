package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// mintHS256 signs claims as a compact JWS, independently of package authn.
func mintHS256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := hdr + "." + enc.EncodeToString(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

func token(t *testing.T, sub string, roles, collections []string) string {
	claims := map[string]any{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if roles != nil {
		claims["roles"] = roles
	}
	if collections != nil {
		claims["collections"] = collections
	}
	return mintHS256(t, testSecret, claims)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func apiKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.StdEncoding.EncodeToString(sum[:])
}

const rolesFile = `
[[roles]]
name = "analyst"
description = "reads the logs"
permissions = [{ resource = "collection:logs", actions = ["read"] }]

[[bindings]]
subject = "alice"
roles = ["analyst"]

[[bindings]]
subject = "node-1"
roles = ["user"]
collections = ["metrics"]

[[bindings]]
subject = "anonymous"
collections = ["public"]
`

// authServer starts a server with JWT, API keys and a roles file.
func authServer(t *testing.T, mutate func(*config.Config)) (*testServer, string) {
	t.Helper()
	dir := t.TempDir()
	keys := fmt.Sprintf(`[
  {"id": "k1", "name": "ci", "key_hash": %q, "user_id": "ci-bot", "roles": ["user"], "collections": ["builds"]},
  {"id": "k2", "name": "old", "key_hash": %q, "user_id": "old-bot", "roles": ["admin"], "attributes": {"expires_at": "2020-01-01T00:00:00Z"}}
]`, apiKeyHash("ci-key-1"), apiKeyHash("expired-key"))
	writeFile(t, dir, "keys.json", keys)
	writeFile(t, dir, "roles.toml", rolesFile)
	ts := startServer(t, func(c *config.Config) {
		c.Auth.JWTSecret = testSecret
		c.Auth.APIKeysFile = filepath.Join(dir, "keys.json")
		c.Authz.RolesFile = filepath.Join(dir, "roles.toml")
		c.Auth.JWTLeeway = 0
		c.Server.DataDir = filepath.Join(dir, "data")
		if mutate != nil {
			mutate(c)
		}
	})
	return ts, dir
}

func TestAuthenticationRequired(t *testing.T) {
	ts, dir := authServer(t, nil)
	u := keyURL(ts, "a", []byte("k"))
	r := do(t, "GET", u, nil)
	wantError(t, r, 401, "unauthenticated")
	if r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}
	wantError(t, do(t, "GET", ts.api+"/v1/status", nil), 401, "unauthenticated")

	expired := mintHS256(t, testSecret, map[string]any{"sub": "bob", "exp": time.Now().Add(-time.Minute).Unix(), "roles": []string{"admin"}})
	forged := mintHS256(t, "another-secret-another-secret-another", map[string]any{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"admin"}})
	good := token(t, "bob", []string{"admin"}, nil)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"expired", bearer(expired)},
		{"forged", bearer(forged)},
		{"alg none", bearer(none)},
		{"garbage", bearer("not.a.token")},
		{"basic scheme", []string{"Authorization", "Basic YWxhZGRpbjpvcGVu"}},
		{"wrong api key", []string{"X-API-Key", "nope"}},
		{"expired api key", []string{"X-API-Key", "expired-key"}},
		// A bad token never falls through to a valid API key.
		{"bad token with good key", append(bearer(forged), "X-API-Key", "ci-key-1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", ts.api+"/v1/status", nil, tc.hdr...)
			wantError(t, r, 401, "unauthenticated")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if r := do(t, "GET", ts.api+"/v1/status", nil, bearer(good)...); r.status != 200 {
		t.Fatalf("good token: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", ts.api+"/v1/status", nil, "X-API-Key", "ci-key-1"); r.status != 200 {
		t.Fatalf("good API key: %d %s", r.status, r.body)
	}

	metrics := string(do(t, "GET", ts.health+"/metrics", nil).body)
	for _, want := range []string{
		`amaters_auth_failures_total{method="jwt",reason="expired"} 1`,
		`amaters_auth_failures_total{method="jwt",reason="bad_signature"} 2`,
		`amaters_auth_failures_total{method="jwt",reason="alg_not_allowed"} 1`,
		`amaters_auth_failures_total{method="none",reason="no_credentials"} 2`,
		`amaters_auth_failures_total{method="api_key",reason="unknown_key"} 1`,
		`amaters_auth_failures_total{method="api_key",reason="expired"} 1`,
		`amaters_auth_successes_total{method="jwt"} 1`,
		`amaters_auth_successes_total{method="api_key"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "amaters_auth_"))
		}
	}
	// Every failure is audited, without the credentials.
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	if n := countAudit(audit, "authenticate", "failure"); n != 10 {
		t.Errorf("%d authentication failures audited, want 10:\n%s", n, audit)
	}
	for _, secret := range []string{expired, forged, good, "ci-key-1", "expired-key", "nope", testSecret, parts[2]} {
		if strings.Contains(audit, secret) {
			t.Fatalf("audit log contains a credential")
		}
	}
}

func readAudit(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line is not a JSON object of strings: %q", line)
		}
		for _, k := range []string{"time", "identity", "action", "resource", "outcome"} {
			if e[k] == "" {
				t.Errorf("audit line lacks %s: %q", k, line)
			}
		}
	}
	return string(data)
}

func countAudit(audit, action, outcome string) int {
	n := 0
	for _, line := range strings.Split(audit, "\n") {
		if strings.Contains(line, `"action":"`+action+`"`) && strings.Contains(line, `"outcome":"`+outcome+`"`) {
			n++
		}
	}
	return n
}

func TestAuthorization(t *testing.T) {
	ts, dir := authServer(t, nil)
	reader := token(t, "rita", []string{"reader"}, []string{"a"})
	user := token(t, "ulla", []string{"user"}, []string{"a", "c"})
	admin := token(t, "ada", []string{"admin"}, nil)
	alice := token(t, "alice", nil, nil)           // analyst through a binding
	nobody := token(t, "nina", nil, []string{"a"}) // default role reader
	put := func(tok, c, k string) int {
		return do(t, "PUT", keyURL(ts, c, []byte(k)), []byte("v"), bearer(tok)...).status
	}
	get := func(tok, c, k string) int {
		return do(t, "GET", keyURL(ts, c, []byte(k)), nil, bearer(tok)...).status
	}
	rng := func(tok, c string) int {
		return do(t, "GET", ts.api+"/v1/collections/"+c+"/range", nil, bearer(tok)...).status
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"admin writes anywhere", put(admin, "a", "k"), 204},
		{"admin writes logs", put(admin, "logs", "l1"), 204},
		{"user writes assigned", put(user, "c", "k"), 204},
		{"user cannot write unassigned", put(user, "b", "k"), 403},
		{"user reads assigned", get(user, "a", "k"), 200},
		{"reader reads assigned", get(reader, "a", "k"), 200},
		{"reader ranges assigned", rng(reader, "a"), 200},
		{"reader cannot write", put(reader, "a", "k2"), 403},
		{"reader cannot read unassigned", get(reader, "c", "k"), 403},
		{"reader cannot range unassigned", rng(reader, "logs"), 403},
		{"custom role through binding reads", get(alice, "logs", "l1"), 200},
		{"custom role cannot write", put(alice, "logs", "l2"), 403},
		{"custom role nothing else", get(alice, "a", "k"), 403},
		{"default role reads assigned", get(nobody, "a", "k"), 200},
		{"default role cannot write", put(nobody, "a", "k"), 403},
		{"api key user writes its collection", do(t, "PUT", keyURL(ts, "builds", []byte("b1")), []byte("x"), "X-API-Key", "ci-key-1").status, 204},
		{"api key user cannot write elsewhere", do(t, "PUT", keyURL(ts, "a", []byte("b1")), []byte("x"), "X-API-Key", "ci-key-1").status, 403},
		{"bad collection is 400 before authorization", do(t, "GET", ts.api+"/v1/collections/-x/keys/k", nil, bearer(reader)...).status, 400},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	r := do(t, "PUT", keyURL(ts, "b", []byte("k")), []byte("v"), bearer(user)...)
	wantError(t, r, 403, "permission_denied")

	// A batch with one forbidden op is refused whole.
	ops := []any{
		map[string]string{"op": "set", "collection": "a", "key": b64("batch1"), "value": b64("1")},
		map[string]string{"op": "set", "collection": "b", "key": b64("batch2"), "value": b64("2")},
	}
	body, _ := json.Marshal(map[string]any{"ops": ops})
	wantError(t, do(t, "POST", ts.api+"/v1/batch", body, bearer(user)...), 403, "permission_denied")
	if st := get(admin, "a", "batch1"); st != 404 {
		t.Fatalf("a refused batch applied an op: GET a/batch1 = %d", st)
	}
	if r := do(t, "POST", ts.api+"/v1/batch", body, bearer(admin)...); r.status != 200 {
		t.Fatalf("admin batch: %d %s", r.status, r.body)
	}

	// Only admin may shut down.
	wantError(t, do(t, "POST", ts.api+"/v1/admin/shutdown", nil, bearer(user)...), 403, "permission_denied")
	wantError(t, do(t, "POST", ts.api+"/v1/admin/shutdown", nil, "X-API-Key", "ci-key-1"), 403, "permission_denied")
	if r := do(t, "POST", ts.api+"/v1/admin/shutdown", nil, bearer(admin)...); r.status != 202 {
		t.Fatalf("admin shutdown: %d %s", r.status, r.body)
	}
	if err := <-ts.done; err != nil {
		t.Fatal(err)
	}
	ts.done <- nil
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	for action, want := range map[string]int{"write": 7, "read": 3, "admin": 2} {
		if n := countAudit(audit, action, "denied"); n != want {
			t.Errorf("%d %s denials audited, want %d:\n%s", n, action, want, audit)
		}
	}
	if !strings.Contains(audit, `"identity":"ada","auth_method":"jwt"`) || countAudit(audit, "admin", "allowed") != 1 {
		t.Errorf("the admin shutdown is not audited with its identity:\n%s", audit)
	}
}

func TestAllowAnonymousWithAuth(t *testing.T) {
	ts, _ := authServer(t, func(c *config.Config) { c.Auth.AllowAnonymous = true })
	// Anonymous gets the default role (reader) and its binding's collections.
	if r := do(t, "GET", keyURL(ts, "public", []byte("k")), nil); r.status != 404 {
		t.Errorf("anonymous read of public: %d %s", r.status, r.body)
	}
	wantError(t, do(t, "PUT", keyURL(ts, "public", []byte("k")), []byte("v")), 403, "permission_denied")
	wantError(t, do(t, "GET", keyURL(ts, "private", []byte("k")), nil), 403, "permission_denied")
	// A bad credential is still refused, never treated as anonymous.
	wantError(t, do(t, "GET", keyURL(ts, "public", []byte("k")), nil, "X-API-Key", "wrong"), 401, "unauthenticated")
}

func TestReloadAPIKeysAndRoles(t *testing.T) {
	ts, dir := authServer(t, nil)
	status := func(key string) int { return do(t, "GET", ts.api+"/v1/status", nil, "X-API-Key", key).status }
	if status("ci-key-1") != 200 || status("new-key") != 401 {
		t.Fatal("before reload")
	}
	writeFile(t, dir, "keys.json", fmt.Sprintf(`[{"id":"k3","key_hash":%q,"user_id":"new-bot","roles":["reader"]}]`, apiKeyHash("new-key")))
	if err := ts.srv.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if status("ci-key-1") != 401 || status("new-key") != 200 {
		t.Fatal("the reload did not swap the keys")
	}
	// A broken file is refused and the keys in force stay.
	writeFile(t, dir, "keys.json", `[{"id": broken`)
	if err := ts.srv.Reload(); err == nil || !strings.Contains(err.Error(), "auth.api_keys_file") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if status("new-key") != 200 {
		t.Fatal("a refused reload dropped the keys in force")
	}
	// A roles file with a cycle is refused too.
	writeFile(t, dir, "keys.json", fmt.Sprintf(`[{"id":"k3","key_hash":%q,"user_id":"new-bot","roles":["reader"]}]`, apiKeyHash("new-key")))
	writeFile(t, dir, "roles.toml", "[[roles]]\nname = \"a\"\ninherits = [\"b\"]\n[[roles]]\nname = \"b\"\ninherits = [\"a\"]\n")
	if err := ts.srv.Reload(); err == nil || !strings.Contains(err.Error(), "authz.roles_file") {
		t.Fatalf("Reload of a cyclic roles file: %v", err)
	}
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	if countAudit(audit, "reload", "success") != 1 || countAudit(audit, "reload", "failure") != 2 {
		t.Errorf("reloads not audited:\n%s", audit)
	}
}

func TestBadAuthConfigRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "keys.json", `[{"id":"x"}]`)
	cfg := config.Default()
	cfg.Auth.APIKeysFile = filepath.Join(dir, "keys.json")
	cfg.Auth.MTLSCACert = writeFile(t, dir, "ca.pem", "not a certificate")
	cfg.Auth.JWTAlgorithm = "ES256"
	cfg.Auth.JWTPublicKey = writeFile(t, dir, "pub.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	_, err := server.New(cfg, server.Options{Logger: discardLogger()})
	probs := problems(err)
	wantProblem(t, probs, "auth.api_keys_file:")
	wantProblem(t, probs, "auth.jwt_public_key:")
	wantProblem(t, probs, "auth.mtls_ca_cert:")
}

// pki is a test CA with certificates for a server and clients.
type pki struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for cn, for a server or a client.
func (p *pki) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func TestMTLSAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	ca, other := newPKI(t, "amaters test CA"), newPKI(t, "another CA")
	scert, skey := ca.issue(t, "localhost", true)
	writeFile(t, dir, "server.crt", string(scert))
	writeFile(t, dir, "server.key", string(skey))
	writeFile(t, dir, "ca.pem", string(ca.caPEM))
	writeFile(t, dir, "roles.toml", rolesFile)
	ts := startServer(t, func(c *config.Config) {
		c.Network.TLSCert = filepath.Join(dir, "server.crt")
		c.Network.TLSKey = filepath.Join(dir, "server.key")
		c.Auth.MTLSCACert = filepath.Join(dir, "ca.pem")
		c.Authz.RolesFile = filepath.Join(dir, "roles.toml")
	})
	base := strings.Replace(ts.api, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.caPEM)
	client := func(p *pki, cn string) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if p != nil {
			c, k := p.issue(t, cn, false)
			pair, err := tls.X509KeyPair(c, k)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	}
	send := func(c *http.Client, method, url string) (*http.Response, error) {
		req, _ := http.NewRequest(method, url, bytes.NewReader([]byte("v")))
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	node := client(ca, "node-1") // bound to user on "metrics"
	resp, err := send(node, "PUT", base+"/v1/collections/metrics/keys/cpu")
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("mTLS client PUT: %v %v", resp, err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("TLS connection spoke %s, want HTTP/2", resp.Proto)
	}
	if resp, err := send(node, "PUT", base+"/v1/collections/other/keys/cpu"); err != nil || resp.StatusCode != 403 {
		t.Fatalf("mTLS client on an unassigned collection: %v %v", resp, err)
	}
	if resp, err := send(client(ca, "stranger"), "PUT", base+"/v1/collections/metrics/keys/cpu"); err != nil || resp.StatusCode != 403 {
		t.Fatalf("unbound certificate (default role reader, nothing assigned): %v %v", resp, err)
	}
	for name, c := range map[string]*http.Client{"no client certificate": client(nil, ""), "certificate from another CA": client(other, "node-1")} {
		if resp, err := send(c, "GET", base+"/v1/status"); err == nil {
			t.Errorf("%s: served with %d, want a refused handshake", name, resp.StatusCode)
		}
	}
	// SIGHUP's reload picks up a renewed server certificate, and swaps the
	// client CA: new handshakes trust the new one only. (A fresh client for
	// each, so no session is resumed.)
	served := func() *big.Int {
		resp, err := send(client(ca, "node-1"), "GET", base+"/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber
	}
	before := served()
	renewed, renewedKey := ca.issue(t, "localhost", true)
	writeFile(t, dir, "server.crt", string(renewed))
	writeFile(t, dir, "server.key", string(renewedKey))
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(renewed)
	want, _ := x509.ParseCertificate(block.Bytes)
	if got := served(); got.Cmp(want.SerialNumber) != 0 || got.Cmp(before) == 0 {
		t.Fatalf("after renewing the server certificate, serial %v is served; want %v (was %v)", got, want.SerialNumber, before)
	}
	// A client of the old CA keeps its connection open across the reload
	// (HTTP/2): its next request is refused all the same.
	kept := client(ca, "node-1")
	if resp, err := send(kept, "GET", base+"/v1/status"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the CA reload: %v %v", resp, err)
	}
	writeFile(t, dir, "ca.pem", string(other.caPEM))
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp, err := send(client(other, "node-1"), "PUT", base+"/v1/collections/metrics/keys/cpu"); err != nil || resp.StatusCode != 204 {
		t.Fatalf("client of the new CA after reload: %v %v", resp, err)
	}
	if _, err := send(client(ca, "node-1"), "GET", base+"/v1/status"); err == nil {
		t.Error("a client of the old CA is still served after the reload")
	}
	if resp, err := send(kept, "GET", base+"/v1/status"); err != nil || resp.StatusCode != 401 || resp.ProtoMajor != 2 {
		t.Errorf("an open connection of the old CA after the reload: %v %v (want 401 on the same HTTP/2 connection)", resp, err)
	}
	// Plain HTTP on the TLS port gets nowhere.
	if resp, err := http.Get(ts.api + "/v1/status"); err == nil && resp.StatusCode < 400 {
		t.Errorf("plain HTTP was served on the TLS port: %d", resp.StatusCode)
	}
}

// TestReloadWholeConfiguration edits the configuration file of a running
// server and reloads it: reloadable settings apply at once, the others are
// named in a warning, and an invalid file changes nothing.
func TestReloadWholeConfiguration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	write := func(body string) { writeFile(t, dir, "config.toml", body) }
	write("[middleware]\nrate_limit_rps = 100\n")
	load := func() (config.Config, error) {
		c, err := config.Load(path, nil, config.Overrides{})
		c.Server.BindAddress, c.Health.HTTPPort, c.Server.DataDir, c.Storage.Engine = "127.0.0.1:0", 0, filepath.Join(dir, "data"), "memory"
		return c, err
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ts := startServerWith(t, server.Options{Stderr: &logs, LoadConfig: load}, func(c *config.Config) { *c = cfg })
	status := func() string { return string(do(t, "GET", ts.api+"/v1/status", nil).body) }
	if !strings.Contains(status(), `"rps":100,"burst":100`) {
		t.Fatalf("before reload: %s", status())
	}
	write(`[server]
log_level = "debug"
shutdown_timeout_ms = 1234
[middleware]
rate_limit_rps = 7
rate_limit_burst = 9
cors_origins = ["https://new.example"]
`)
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status(), `"rps":7,"burst":9`) {
		t.Errorf("rate limit not reloaded: %s", status())
	}
	if r := do(t, "GET", ts.api+"/v1/status", nil, "Origin", "https://new.example"); r.header.Get("Access-Control-Allow-Origin") != "https://new.example" {
		t.Errorf("CORS origins not reloaded: %v", r.header)
	}
	text := logs.String()
	if !strings.Contains(text, "level=DEBUG") {
		t.Errorf("log level not reloaded to debug")
	}
	if !strings.Contains(text, `need a restart to take effect" keys=server.shutdown_timeout_ms`) {
		t.Errorf("the restart-only change is not named:\n%s", grepLines(text, "reload"))
	}
	// A typo is refused whole: the running settings stay.
	write("[middleware]\nrate_limit_rps = 1\nrate_limt_burst = 2\n")
	if err := ts.srv.Reload(); err == nil || !strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("reload of a bad file: %v", err)
	}
	if !strings.Contains(status(), `"rps":7,"burst":9`) {
		t.Errorf("a refused reload changed the rate limit: %s", status())
	}
}

// TestAPIKeysProblemsOnePerLine: every problem of an API keys file is its
// own problem (one line each, with the config file's place), and a key
// naming an undefined role is refused.
func TestAPIKeysProblemsOnePerLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "keys.json", fmt.Sprintf(`[
{"id":"a","key_hash":"x","user_id":"u","roles":["reader"],"attributes":{"expires_at":"tomorrow"}},
{"id":"b","key_hash":%q,"user_id":"v","roles":["ghost","reader"]}]`, apiKeyHash("k")))
	path := writeFile(t, dir, "c.toml", "[auth]\napi_keys_file = \"keys.json\"\n")
	_, probs := loadAndValidate(t, path, nil, config.Overrides{})
	for _, p := range probs {
		if strings.Contains(p, "\n") || !strings.HasPrefix(p, path+":2: auth.api_keys_file: ") {
			t.Errorf("problem not on one line with its place: %q", p)
		}
	}
	wantProblem(t, probs, `entry #1 (id "a"): key_hash must be`)
	wantProblem(t, probs, `entry #1 (id "a"): attributes.expires_at "tomorrow"`)
	// The role check needs a file that parses.
	writeFile(t, dir, "keys.json", fmt.Sprintf(`[{"id":"b","key_hash":%q,"user_id":"v","roles":["ghost","reader","adm1n"]}]`, apiKeyHash("k")))
	_, probs = loadAndValidate(t, path, nil, config.Overrides{})
	wantProblem(t, probs, `entry #1 (id "b"): role "ghost" is not defined`)
	wantProblem(t, probs, `entry #1 (id "b"): role "adm1n" is not defined`)
	if len(probs) != 2 {
		t.Errorf("want 2 problems, got %q", probs)
	}
	// A role the roles file defines is fine.
	writeFile(t, dir, "roles.toml", "[[roles]]\nname = \"ghost\"\npermissions = [{resource = \"*\", actions = [\"read\"]}]\n[[roles]]\nname = \"adm1n\"\ninherits = [\"admin\"]\n")
	path = writeFile(t, dir, "c.toml", "[auth]\napi_keys_file = \"keys.json\"\n[authz]\nroles_file = \"roles.toml\"\n")
	if _, probs = loadAndValidate(t, path, nil, config.Overrides{}); len(probs) != 0 {
		t.Errorf("roles defined in the roles file: %q", probs)
	}
}

// TestAuditRedactsKeyNames: an authentication failure on a key route is
// audited with the route, not the key name, which may be sensitive.
func TestAuditRedactsKeyNames(t *testing.T) {
	ts, dir := authServer(t, nil)
	wantError(t, do(t, "GET", keyURL(ts, "c", []byte("customer-ssn-123")), nil, "X-API-Key", "wrong"), 401, "unauthenticated")
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	if strings.Contains(audit, "customer-ssn-123") || !strings.Contains(audit, `"/v1/collections/c/keys/{key}"`) {
		t.Errorf("audit log:\n%s", audit)
	}
}
