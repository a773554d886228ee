package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/authn"
)

// testCA is a throwaway certificate authority for the mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate for cn, valid from notBefore to notAfter.
func (ca testCA) issue(t *testing.T, cn string, notBefore, notAfter time.Time, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsServer starts an HTTPS server whose TLS config comes from cfg on
// every handshake (as a SIGHUP reload would swap it) and whose handler
// answers with the authenticated subject and whether the session resumed.
func mtlsServer(t *testing.T, cfg *atomic.Pointer[tls.Config]) *httptest.Server {
	t.Helper()
	a, err := authn.New(authn.Config{MTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Authenticate(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		resumed := ""
		if r.TLS.DidResume {
			resumed = " resumed"
		}
		_, _ = io.WriteString(w, string(id.Method)+" "+id.Subject+resumed)
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return cfg.Load(), nil }}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func mtlsClient(serverCA testCA, cert *tls.Certificate, cache tls.ClientSessionCache) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	tc := &tls.Config{RootCAs: roots, ClientSessionCache: cache}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	// No keep-alive: each request is a new handshake, so resumption is
	// exercised.
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return string(body), &statusError{resp.StatusCode}
	}
	return string(body), nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// serverConfig returns the listener config: a server certificate from
// serverCA and client verification against clientCAs, with fixed session
// ticket keys so that sessions survive a config swap.
func serverConfig(t *testing.T, serverCA testCA, clientCAs []byte) *tls.Config {
	t.Helper()
	base := &tls.Config{Certificates: []tls.Certificate{serverCA.issue(t, "server", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth)}}
	base.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
	cfg, err := authn.MTLSConfig(base, clientCAs)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestMTLS(t *testing.T) {
	serverCA := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	otherCA := newTestCA(t, "other CA")
	var cfg atomic.Pointer[tls.Config]
	cfg.Store(serverConfig(t, serverCA, clientCA.pem))
	srv := mtlsServer(t, &cfg)

	n := time.Now()
	valid := clientCA.issue(t, "node-1", n.Add(-time.Hour), n.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	foreign := otherCA.issue(t, "node-1", n.Add(-time.Hour), n.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	expired := clientCA.issue(t, "node-1", n.Add(-2*time.Hour), n.Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	future := clientCA.issue(t, "node-1", n.Add(time.Hour), n.Add(2*time.Hour), x509.ExtKeyUsageClientAuth)
	serverOnly := clientCA.issue(t, "node-1", n.Add(-time.Hour), n.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	tests := []struct {
		name string
		cert *tls.Certificate
		want string // empty: the request must fail
	}{
		{"valid client", &valid, "mtls node-1"},
		{"no certificate", nil, ""},
		{"other CA", &foreign, ""},
		{"expired", &expired, ""},
		{"not yet valid", &future, ""},
		{"server-auth only certificate", &serverOnly, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := get(t, mtlsClient(serverCA, tc.cert, nil), srv.URL)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("request succeeded: %q", body)
				}
				return
			}
			if err != nil || body != tc.want {
				t.Fatalf("got %q, %v; want %q", body, err, tc.want)
			}
		})
	}
}

// TestMTLSResumptionAfterCAReload checks that a TLS session resumed after
// the client CA bundle was replaced is verified against the new bundle.
// Recent crypto/tls releases refuse such a resumption themselves, older
// ones did not; MTLSConfig's VerifyConnection check, tested on its own in
// TestVerifyClientChain, covers both.
func TestMTLSResumptionAfterCAReload(t *testing.T) {
	serverCA := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	newCA := newTestCA(t, "replacement CA")
	var cfg atomic.Pointer[tls.Config]
	cfg.Store(serverConfig(t, serverCA, clientCA.pem))
	srv := mtlsServer(t, &cfg)

	n := time.Now()
	cert := clientCA.issue(t, "node-1", n.Add(-time.Hour), n.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	cache := tls.NewLRUClientSessionCache(4)
	c := mtlsClient(serverCA, &cert, cache)
	if body, err := get(t, c, srv.URL); err != nil || body != "mtls node-1" {
		t.Fatalf("first request: %q, %v", body, err)
	}
	// Control: with an equivalent config the session does resume, so the
	// refusal below is due to the check and not to a missed resumption.
	cfg.Store(serverConfig(t, serverCA, clientCA.pem))
	if body, err := get(t, c, srv.URL); err != nil || body != "mtls node-1 resumed" {
		t.Fatalf("control request: %q, %v; want a resumed session", body, err)
	}
	cfg.Store(serverConfig(t, serverCA, newCA.pem))
	if body, err := get(t, c, srv.URL); err == nil {
		t.Fatalf("resumed session accepted after the CA was replaced: %q", body)
	}
}

func TestParseClientCAs(t *testing.T) {
	ca := newTestCA(t, "ca")
	ca2 := newTestCA(t, "ca2")
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})
	tests := []struct {
		name    string
		pem     []byte
		wantMsg string
	}{
		{"one", ca.pem, ""},
		{"bundle", append(append([]byte{}, ca.pem...), ca2.pem...), ""},
		{"empty", nil, "no PEM certificate"},
		{"key in bundle", append(append([]byte{}, ca.pem...), key...), `block #2 is "EC PRIVATE KEY"`},
		{"corrupt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), "certificate #1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authn.ParseClientCAs(tc.pem)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.wantMsg)
			}
		})
	}
	cfg, err := authn.MTLSConfig(nil, ca.pem)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil || cfg.MinVersion < tls.VersionTLS12 || cfg.VerifyConnection == nil {
		t.Errorf("MTLSConfig(nil) = %+v", cfg)
	}
	if _, err := authn.MTLSConfig(nil, nil); err == nil {
		t.Error("MTLSConfig without CAs accepted")
	}
}

// TestVerifyClientChain drives the resumption check directly with the
// connection state a resumed session would have.
func TestVerifyClientChain(t *testing.T) {
	oldCA := newTestCA(t, "old CA")
	newCA := newTestCA(t, "new CA")
	n := time.Now()
	leafCert := oldCA.issue(t, "node-1", n.Add(-time.Hour), n.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	leaf, err := x509.ParseCertificate(leafCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := func(ca testCA) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(ca.cert)
		return p
	}
	state := func(resumed bool) tls.ConnectionState {
		return tls.ConnectionState{DidResume: resumed, PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, oldCA.cert}}}
	}
	tests := []struct {
		name    string
		cs      tls.ConnectionState
		pool    *x509.CertPool
		at      time.Time
		wantErr bool
	}{
		{"full handshake", state(false), pool(newCA), n, false},
		{"resumed, same CA", state(true), pool(oldCA), n, false},
		{"resumed, CA replaced", state(true), pool(newCA), n, true},
		{"resumed, certificate expired since", state(true), pool(oldCA), n.Add(2 * time.Hour), true},
		{"no certificate", tls.ConnectionState{}, pool(oldCA), n, true},
		{"unverified certificate", tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, pool(oldCA), n, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.VerifyClientChain(tc.cs, tc.pool, tc.at)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// crypto/x509 fills Subject.CommonName with the LAST CN attribute, so a
// verified certificate with subject CN=alice, CN=admin once authenticated
// as "admin", though a CA checking the first CN issued it to alice. Several
// CNs are ambiguous: refused.
func TestMTLSMultipleCommonNames(t *testing.T) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: cn, Value: "alice"}, {Type: cn, Value: "admin"}}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("the CA-signed leaf does not verify: %v", err)
	}
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: chains}
	id, err := authn.FromCertificate(cs, now)
	if err == nil {
		t.Errorf("subject attributes %v (two CNs) accepted as identity %q; want it refused as ambiguous", leaf.Subject.Names, id.Subject)
	}
}
