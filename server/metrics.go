package server

import (
	"runtime"
	"strconv"

	"amaters-server/promtext"
)

// metrics holds every metric of API.md §5 that the server updates itself;
// the rest are callbacks read at scrape time.
type metrics struct {
	storageOps     *promtext.CounterVec
	storageLatency *promtext.HistogramVec
	requests       *promtext.CounterVec
	networkErrors  *promtext.CounterVec
	cacheHits      *promtext.Counter
	cacheMisses    *promtext.Counter
	cacheEvictions *promtext.Counter
	authSuccesses  *promtext.CounterVec
	authFailures   *promtext.CounterVec
	rateLimited    *promtext.Counter
	panics         *promtext.Counter
}

// newMetrics registers the server's metrics on reg. Families whose
// subsystem is not built yet (cache, auth, rate limiting) are registered
// too, so that dashboards and alerts can rely on their names from the start.
func newMetrics(reg *promtext.Registry, s *Server) *metrics {
	m := &metrics{
		storageOps: reg.NewCounterVec("amaters_storage_ops_total",
			"Storage operations by operation and result (ok, not_found, error).", "op", "result"),
		storageLatency: reg.NewHistogramVec("amaters_storage_latency_seconds",
			"Latency of storage operations in seconds.", promtext.ExponentialBuckets(0.00001, 4, 10), "op"),
		requests: reg.NewCounterVec("amaters_network_requests_total",
			"API requests answered, by method and status code.", "method", "code"),
		networkErrors: reg.NewCounterVec("amaters_network_errors_total",
			"Network errors by kind.", "kind"),
		cacheHits:      reg.NewCounter("amaters_cache_hits_total", "Query result cache hits (GET and range)."),
		cacheMisses:    reg.NewCounter("amaters_cache_misses_total", "Query result cache misses, stale entries included."),
		cacheEvictions: reg.NewCounter("amaters_cache_evictions_total", "Query result cache evictions."),
		authSuccesses: reg.NewCounterVec("amaters_auth_successes_total",
			"Successful authentications by method.", "method"),
		authFailures: reg.NewCounterVec("amaters_auth_failures_total",
			"Failed authentications by method and reason.", "method", "reason"),
		rateLimited: reg.NewCounter("amaters_ratelimit_rejected_total", "Requests rejected by the rate limiter."),
		panics:      reg.NewCounter("amaters_http_panics_total", "Handler panics recovered into a 500 answer."),
	}
	// Pre-create the label sets an operator alerts on, so they read 0
	// rather than being absent before the first event.
	for _, op := range []string{"get", "set", "delete", "range", "batch"} {
		m.storageLatency.With(op)
		for _, result := range []string{"ok", "error"} {
			m.storageOps.With(op, result)
		}
	}

	reg.NewGaugeFunc("amaters_storage_size_bytes", "Bytes the storage engine holds: SSTables, write-ahead log and manifest (in memory for the memory engine).",
		func() float64 { return float64(s.engineStats().SizeBytes) })
	reg.NewGaugeFunc("amaters_network_connections", "Open API connections.",
		func() float64 { return float64(s.conns.Load()) })
	reg.NewCounterFunc("amaters_lsm_flushes_total", "Memtable flushes to SSTables.",
		func() float64 { return float64(s.engineStats().Flushes) })
	reg.NewCounterFunc("amaters_lsm_compactions_total", "Compactions run.",
		func() float64 { return float64(s.engineStats().Compactions) })
	reg.NewCounterFunc("amaters_lsm_wal_syncs_total", "Write-ahead log fsyncs.",
		func() float64 { return float64(s.engineStats().WALSyncs) })
	reg.NewGaugeVecFunc("amaters_lsm_level_files", "SSTable files per LSM level.", []string{"level"},
		func(emit func(float64, ...string)) {
			for i, l := range s.engineStats().Levels {
				emit(float64(l.Files), strconv.Itoa(i))
			}
		})
	reg.NewGaugeVecFunc("amaters_lsm_level_bytes", "SSTable bytes per LSM level.", []string{"level"},
		func(emit func(float64, ...string)) {
			for i, l := range s.engineStats().Levels {
				emit(float64(l.Bytes), strconv.Itoa(i))
			}
		})
	reg.NewGaugeVecFunc("amaters_build_info", "Build information; always 1.", []string{"version", "goversion"},
		func(emit func(float64, ...string)) { emit(1, s.opts.Version, runtime.Version()) })
	reg.NewGaugeFunc("amaters_uptime_seconds", "Seconds since the server started.",
		func() float64 { return s.uptime().Seconds() })
	// Storage integrity and readiness, for the alerts of deploy/prometheus.
	reg.NewCounterFunc("amaters_lsm_corruptions_total", "Failed checksum or structure checks found by reads and the scrubber since the start.",
		func() float64 { return float64(s.integrity().Corruptions) })
	reg.NewGaugeFunc("amaters_ready", "1 while /readyz answers 200 (storage recovered, not draining), else 0.",
		func() float64 {
			if s.state.Load() == stateServing && s.notReady() == "" {
				return 1
			}
			return 0
		})
	reg.NewGaugeFunc("amaters_storage_writes_stopped", "1 while the storage refuses writes (disk full, or a failed write or fsync), else 0.",
		func() float64 {
			if s.engineStats().Err != nil {
				return 1
			}
			return 0
		})
	promtext.RegisterProcess(reg)
	promtext.RegisterGo(reg)
	return m
}
