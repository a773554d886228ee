package authn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"amaters-server/authn"
)

func TestAuthenticate(t *testing.T) {
	k := testKeyFor(t, "HS256")
	jwt := newVerifier(t, k.cfg)
	keys, err := authn.LoadAPIKeys(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return testNow() }
	good := sign(t, "HS256", k.priv, `{"alg":"HS256"}`, goodClaims)
	bad := good[:len(good)-2] + "AA"
	const goodKey = "amaters-ci-secret-key-0001"
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: "node-1"}, NotBefore: testNow().Add(-time.Hour), NotAfter: testNow().Add(time.Hour)}
	expired := &x509.Certificate{Subject: pkix.Name{CommonName: "node-1"}, NotBefore: testNow().Add(-2 * time.Hour), NotAfter: testNow().Add(-time.Hour)}
	noCN := &x509.Certificate{NotBefore: testNow().Add(-time.Hour), NotAfter: testNow().Add(time.Hour)}

	full := authn.Config{JWT: jwt, APIKeys: keys, MTLS: true, Clock: clock}
	tests := []struct {
		name    string
		cfg     authn.Config
		target  string
		headers [][2]string
		tls     *tls.ConnectionState
		method  authn.Method // of the identity or of the *Error
		reason  string       // empty: success
		noCreds bool
	}{
		{name: "nothing", cfg: full, noCreds: true},
		{name: "bearer", cfg: full, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodJWT},
		{name: "bearer lower case scheme", cfg: full, headers: [][2]string{{"Authorization", "bearer " + good}}, method: authn.MethodJWT},
		{name: "api key", cfg: full, headers: [][2]string{{"X-API-Key", goodKey}}, method: authn.MethodAPIKey},
		{name: "api key header case", cfg: full, headers: [][2]string{{"x-api-key", goodKey}}, method: authn.MethodAPIKey},
		{name: "bad bearer does not fall through to good key", cfg: full, headers: [][2]string{{"Authorization", "Bearer " + bad}, {"X-API-Key", goodKey}}, method: authn.MethodJWT, reason: authn.ReasonSignature},
		{name: "good bearer wins over bad key", cfg: full, headers: [][2]string{{"Authorization", "Bearer " + good}, {"X-API-Key", "wrong"}}, method: authn.MethodJWT},
		{name: "basic auth", cfg: full, headers: [][2]string{{"Authorization", "Basic YWxpY2U6cHc="}, {"X-API-Key", goodKey}}, method: authn.MethodJWT, reason: authn.ReasonScheme},
		{name: "bearer without token", cfg: full, headers: [][2]string{{"Authorization", "Bearer"}}, method: authn.MethodJWT, reason: authn.ReasonScheme},
		{name: "bearer empty token", cfg: full, headers: [][2]string{{"Authorization", "Bearer  "}}, method: authn.MethodJWT, reason: authn.ReasonMalformed},
		{name: "two authorization headers", cfg: full, headers: [][2]string{{"Authorization", "Bearer " + good}, {"Authorization", "Bearer " + good}}, method: authn.MethodJWT, reason: authn.ReasonAmbiguous},
		{name: "two api keys", cfg: full, headers: [][2]string{{"X-API-Key", goodKey}, {"X-API-Key", goodKey}}, method: authn.MethodAPIKey, reason: authn.ReasonAmbiguous},
		{name: "empty api key", cfg: full, headers: [][2]string{{"X-API-Key", ""}}, method: authn.MethodAPIKey, reason: authn.ReasonBadCredentialForm},
		{name: "token in query", cfg: full, target: "/v1/status?access_token=" + good, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodJWT, reason: authn.ReasonTokenInQuery},
		{name: "api key in query", cfg: full, target: "/v1/status?limit=1&api_key=" + goodKey, method: authn.MethodJWT, reason: authn.ReasonTokenInQuery},
		{name: "credential name as a value", cfg: full, target: "/v1/collections/c/range?prefix=access_token", headers: [][2]string{{"X-API-Key", goodKey}}, method: authn.MethodAPIKey},
		{name: "jwt not configured", cfg: authn.Config{APIKeys: keys, Clock: clock}, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodJWT, reason: authn.ReasonNotConfigured},
		{name: "keys not configured", cfg: authn.Config{JWT: jwt, Clock: clock}, headers: [][2]string{{"X-API-Key", goodKey}}, method: authn.MethodAPIKey, reason: authn.ReasonNotConfigured},
		{name: "custom key header", cfg: authn.Config{APIKeys: keys, APIKeyHeader: "x-amaters-key", Clock: clock}, headers: [][2]string{{"X-Amaters-Key", goodKey}}, method: authn.MethodAPIKey},
		{name: "default header ignored when custom", cfg: authn.Config{APIKeys: keys, APIKeyHeader: "X-Amaters-Key", Clock: clock}, headers: [][2]string{{"X-API-Key", goodKey}}, noCreds: true},
		{name: "mtls first", cfg: full, tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}, headers: [][2]string{{"Authorization", "Bearer " + bad}}, method: authn.MethodMTLS},
		{name: "mtls unverified", cfg: full, tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodMTLS, reason: authn.ReasonUnverifiedCert},
		{name: "mtls expired", cfg: full, tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{expired}, VerifiedChains: [][]*x509.Certificate{{expired}}}, method: authn.MethodMTLS, reason: authn.ReasonExpired},
		{name: "mtls without CN", cfg: full, tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{noCN}, VerifiedChains: [][]*x509.Certificate{{noCN}}}, method: authn.MethodMTLS, reason: authn.ReasonNoCommonName},
		{name: "tls without client cert", cfg: full, tls: &tls.ConnectionState{}, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodJWT},
		{name: "mtls off ignores certificate", cfg: authn.Config{JWT: jwt, Clock: clock}, tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}, headers: [][2]string{{"Authorization", "Bearer " + good}}, method: authn.MethodJWT},
		{name: "zero config", cfg: authn.Config{}, noCreds: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := authn.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			target := tc.target
			if target == "" {
				target = "/v1/status"
			}
			r := httptest.NewRequest("GET", target, nil)
			for _, h := range tc.headers {
				r.Header.Add(h[0], h[1])
			}
			r.TLS = tc.tls
			id, err := a.Authenticate(r)
			if tc.noCreds {
				if !errors.Is(err, authn.ErrNoCredentials) {
					t.Fatalf("got %+v, %v; want ErrNoCredentials", id, err)
				}
				if got := authn.Challenge(err); got != "Bearer" {
					t.Errorf("Challenge = %q", got)
				}
				return
			}
			wantReason(t, err, tc.reason)
			if err != nil {
				var ae *authn.Error
				errors.As(err, &ae)
				if ae.Method != tc.method {
					t.Errorf("error method %s, want %s", ae.Method, tc.method)
				}
				if got := authn.Challenge(err); got != `Bearer error="invalid_token"` {
					t.Errorf("Challenge = %q", got)
				}
				if strings.Contains(err.Error(), good[10:30]) || strings.Contains(err.Error(), goodKey) {
					t.Errorf("error %q contains the credential", err)
				}
				return
			}
			if id.Method != tc.method {
				t.Errorf("identity %+v, want method %s", id, tc.method)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, h := range []string{"Authorization", "authorization", "Cookie", "bad header", "X-Key:"} {
		if _, err := authn.New(authn.Config{APIKeyHeader: h}); err == nil {
			t.Errorf("APIKeyHeader %q accepted", h)
		}
	}
}

func TestMethods(t *testing.T) {
	k := testKeyFor(t, "HS256")
	keys, err := authn.ParseAPIKeys([]byte("[]"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(authn.Config{JWT: newVerifier(t, k.cfg), APIKeys: keys, MTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Methods(), []authn.Method{authn.MethodMTLS, authn.MethodJWT, authn.MethodAPIKey}; !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	empty, err := authn.New(authn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Methods()) != 0 {
		t.Errorf("zero config methods %v", empty.Methods())
	}
}

func TestIdentityContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := authn.IdentityFrom(ctx); ok {
		t.Fatal("identity in empty context")
	}
	want := authn.Identity{Subject: "alice", Method: authn.MethodJWT}
	got, ok := authn.IdentityFrom(authn.WithIdentity(ctx, want))
	if !ok || got.Subject != want.Subject || got.Method != want.Method {
		t.Errorf("IdentityFrom = %+v, %v", got, ok)
	}
}

// TestAuthenticateThroughServer runs the authenticator behind a real HTTP
// server, where Go has parsed and trimmed the headers itself.
func TestAuthenticateThroughServer(t *testing.T) {
	k := testKeyFor(t, "HS256")
	a, err := authn.New(authn.Config{JWT: newVerifier(t, k.cfg), Clock: testNow})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", authn.Challenge(err))
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(id.Subject))
	}))
	t.Cleanup(srv.Close)
	good := sign(t, "HS256", k.priv, `{"alg":"HS256"}`, goodClaims)
	for _, tc := range []struct {
		auth string
		code int
	}{
		{"Bearer " + good, 200},
		{"Bearer   " + good + "  ", 200},
		{"Bearer " + good + "x", 401},
		{"Bearer " + strings.Repeat(".", 100000), 401},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tc.auth)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Authorization %.20q...: status %d, want %d", tc.auth, resp.StatusCode, tc.code)
		}
		if tc.code == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// Authenticate refuses credentials in the query (access_token, api_key),
// percent-encoded names too (the pre-check once missed ?acc%65ss_token=).
func TestQueryCredentialPercentEncodedName(t *testing.T) {
	a, err := authn.New(authn.Config{APIKeys: &authn.KeySet{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"acc%65ss_token=eyJ.x.y", "api%5Fkey=secret"} {
		r := httptest.NewRequest("GET", "/v1/status?"+q, nil)
		_, err := a.Authenticate(r)
		var e *authn.Error
		if !errors.As(err, &e) || e.Reason != authn.ReasonTokenInQuery {
			t.Errorf("query %q: err = %v, want reason %s", q, err, authn.ReasonTokenInQuery)
		}
	}
}
