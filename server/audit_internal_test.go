package server

import (
	"sync"
	"testing"
	"time"

	"amaters-server/server/config"
)

// TestAuditRecordRacesClose: in Run, the audit log is closed by a deferred
// call after apiSrv.Close, which does not wait for handlers still running
// once the drain budget is spent, so a late handler's record may run with
// Close. (record once read a.w before taking a.mu: a data race, which -race
// reports here.)
func TestAuditRecordRacesClose(t *testing.T) {
	for range 20 {
		cfg := config.Default()
		a, err := openAuditLog(t.TempDir()+"/audit.log", rotationOptions(&cfg, time.Now), time.Now, discardLog())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { a.record(nil, principal{label: "x"}, "admin", "server", "allowed", "") })
		wg.Go(func() { a.Close() })
		wg.Wait()
	}
}
