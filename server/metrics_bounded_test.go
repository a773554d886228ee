package server_test

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"

	"amaters-server/server/config"
)

func notAfter(t *testing.T, pemData []byte) float64 {
	t.Helper()
	b, _ := pem.Decode(pemData)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return float64(c.NotAfter.Unix())
}

// The metrics that dashboards and alerts read: request durations by route,
// write stalls, log write errors, certificate expiry, the last backup.
func TestOperatorMetrics(t *testing.T) {
	ts := startServer(t, nil)
	for _, series := range []string{
		`amaters_lsm_write_stalls_total`, `amaters_lsm_stall_seconds_total`,
		`amaters_log_write_errors_total{log="server"}`, `amaters_log_write_errors_total{log="audit"}`, `amaters_log_write_errors_total{log="access"}`,
		`amaters_backup_last_success_timestamp_seconds`,
	} {
		if v := metricValue(t, ts, series); v != 0 {
			t.Errorf("%s = %v at the start, want 0", series, v)
		}
	}
	if v := metricValue(t, ts, `amaters_tls_certificate_expiry_timestamp_seconds{kind="serving"}`); v != -1 {
		t.Errorf("a certificate expiry without TLS: %v", v)
	}
	do(t, "PUT", ts.api+"/v1/collections/c/keys/k", []byte("v"))
	do(t, "PUT", ts.api+"/v1/collections/c/keys/k", []byte("v"))
	do(t, "GET", ts.api+"/v1/nowhere", nil)
	if v := metricValue(t, ts, `amaters_request_duration_seconds_count{route="PUT /v1/collections/{c}/keys/{key...}"}`); v != 2 {
		t.Errorf("PUT duration count = %v, want 2", v)
	}
	if v := metricValue(t, ts, `amaters_request_duration_seconds_count{route="unmatched"}`); v != 1 {
		t.Errorf("unmatched duration count = %v, want 1", v)
	}
	if r := do(t, "GET", ts.api+"/v1/admin/backup", nil); r.status != 200 {
		t.Fatalf("backup: %d", r.status)
	}
	if v := metricValue(t, ts, `amaters_backup_last_success_timestamp_seconds`); v < 1e9 {
		t.Errorf("amaters_backup_last_success_timestamp_seconds = %v after a backup", v)
	}

	dir := t.TempDir()
	ca := newPKI(t, "amaters test CA")
	scert, skey := ca.issue(t, "localhost", true)
	writeFile(t, dir, "server.crt", string(scert))
	writeFile(t, dir, "server.key", string(skey))
	writeFile(t, dir, "ca.pem", string(ca.caPEM))
	tls := startServer(t, func(c *config.Config) {
		c.Network.TLSCert = filepath.Join(dir, "server.crt")
		c.Network.TLSKey = filepath.Join(dir, "server.key")
		c.Auth.MTLSCACert = filepath.Join(dir, "ca.pem")
	})
	if got, want := metricValue(t, tls, `amaters_tls_certificate_expiry_timestamp_seconds{kind="serving"}`), notAfter(t, scert); got != want {
		t.Errorf("serving certificate expiry = %v, want %v", got, want)
	}
	if got, want := metricValue(t, tls, `amaters_tls_certificate_expiry_timestamp_seconds{kind="client_ca"}`), notAfter(t, ca.caPEM); got != want {
		t.Errorf("client CA expiry = %v, want %v", got, want)
	}
}
