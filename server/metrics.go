package server

import (
	"runtime"
	"strconv"
	"sync/atomic"

	"amaters-server/promtext"
)

// metrics holds every metric of API.md §5 that the server updates itself;
// the rest are callbacks read at scrape time.
type metrics struct {
	storageOps     *promtext.CounterVec
	storageLatency *promtext.HistogramVec
	requests       *promtext.CounterVec
	networkErrors  *promtext.CounterVec
	connsClosed    *promtext.CounterVec
	// requestDuration is what clients see, by route (requestRoute).
	requestDuration *promtext.HistogramVec
	routeLabels     atomic.Pointer[map[routeKey]string]
	cacheHits       *promtext.Counter
	cacheMisses     *promtext.Counter
	cacheEvictions  *promtext.Counter
	authSuccesses   *promtext.CounterVec
	authFailures    *promtext.CounterVec
	rateLimited     *promtext.Counter
	panics          *promtext.Counter
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
		connsClosed: reg.NewCounterVec("amaters_network_connections_closed_total",
			"API connections the server closed to stay bounded, by reason (per_ip_limit, idle_under_load, auth_failure).", "reason"),
		requestDuration: reg.NewHistogramVec("amaters_request_duration_seconds",
			"API request duration in seconds, from the request's headers read to its handler's return, by route (METHOD PATTERN, or \"unmatched\").",
			[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, "route"),
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
	for _, kind := range []string{"tls_handshake", "timeout", "reset", "too_large", "bad_framing", "other"} {
		m.networkErrors.With(kind)
	}
	for _, reason := range []string{"per_ip_limit", "idle_under_load", "auth_failure"} {
		m.connsClosed.With(reason)
	}
	for _, op := range []string{"get", "set", "delete", "range", "batch"} {
		m.storageLatency.With(op)
		for _, result := range []string{"ok", "error"} {
			m.storageOps.With(op, result)
		}
	}

	reg.NewGaugeFunc("amaters_storage_size_bytes", "Bytes the storage engine holds: SSTables, write-ahead log and manifest (in memory for the memory engine).",
		func() float64 { return float64(s.engineStats().SizeBytes) })
	reg.NewGaugeFunc("amaters_inflight_body_bytes", "Request body bytes held now, under network.max_inflight_body_mb.",
		func() float64 {
			if s.bodies == nil {
				return 0
			}
			return float64(s.bodies.inUse())
		})
	reg.NewCounterFunc("amaters_inflight_body_rejected_total", "Requests answered 503 because the request body budget (network.max_inflight_body_mb) stayed exhausted.",
		func() float64 {
			if s.bodies == nil {
				return 0
			}
			return float64(s.bodies.rejected.Load())
		})
	reg.NewGaugeFunc("amaters_watch_watchers", "Open watches (GET /v1/collections/{c}/watch).",
		func() float64 { return float64(s.watch.Load().Metrics().Watchers) })
	reg.NewCounterFunc("amaters_watch_events_sent_total", "Change events written to watchers.",
		func() float64 { return float64(s.watch.Load().Metrics().EventsSent) })
	reg.NewCounterFunc("amaters_watch_slow_consumers_total", "Watches ended because they fell more than watch.buffer_events behind.",
		func() float64 { return float64(s.watch.Load().Metrics().SlowConsumers) })
	reg.NewGaugeVecFunc("amaters_lsm_memory_bytes", "Memory the storage engine holds, by use: memtables (their arenas) and block_cache (data, index and filter blocks).",
		[]string{"use"}, func(emit func(float64, ...string)) {
			m := s.engineStats().Memory
			emit(float64(m.MemtableBytes), "memtables")
			emit(float64(m.BlockCacheBytes), "block_cache")
		})
	reg.NewGaugeFunc("amaters_lsm_compactions_running", "Compactions in progress.",
		func() float64 { return float64(s.engineStats().CompactionsRunning) })
	reg.NewCounterFunc("amaters_lsm_compaction_read_bytes_total", "Table bytes merged by finished compactions.",
		func() float64 { return float64(s.engineStats().CompactionBytesRead) })
	reg.NewCounterFunc("amaters_lsm_compaction_written_bytes_total", "Table bytes written by finished compactions.",
		func() float64 { return float64(s.engineStats().CompactionBytesWritten) })
	reg.NewGaugeFunc("amaters_lsm_compaction_debt_bytes", "Estimated bytes compactions have yet to merge to bring every level within its target.",
		func() float64 { return float64(s.engineStats().CompactionDebt) })
	reg.NewCounterFunc("amaters_lsm_write_stalls_total", "Times a write waited for a flush or compaction (a write stall).",
		func() float64 { return float64(s.engineStats().WriteStalls) })
	reg.NewCounterFunc("amaters_lsm_stall_seconds_total", "Seconds writes spent waiting in write stalls.",
		func() float64 { return s.engineStats().StallSeconds })
	reg.NewCounterVecFunc("amaters_log_write_errors_total",
		"Writes a log file refused, by log: server (logging.file, which the access log shares unless observability.access_log_file is set), audit, access (observability.access_log_file).",
		[]string{"log"}, func(emit func(float64, ...string)) {
			emit(float64(s.logWriteErrors("server")), "server")
			emit(float64(s.logWriteErrors("audit")), "audit")
			emit(float64(s.logWriteErrors("access")), "access")
		})
	reg.NewGaugeVecFunc("amaters_tls_certificate_expiry_timestamp_seconds",
		"When a certificate the server uses expires (Unix seconds): kind serving (network.tls_cert), client_ca (the first to expire of auth.mtls_ca_cert). Absent without that file; follows reloads.",
		[]string{"kind"}, func(emit func(float64, ...string)) {
			l := s.live.Load()
			if !l.certExpiry.IsZero() {
				emit(float64(l.certExpiry.Unix()), "serving")
			}
			if !l.caExpiry.IsZero() {
				emit(float64(l.caExpiry.Unix()), "client_ca")
			}
		})
	reg.NewGaugeFunc("amaters_backup_last_success_timestamp_seconds",
		"When this process last streamed a whole online backup (Unix seconds); 0 before the first.",
		func() float64 { return float64(s.lastBackup.Load()) })
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

// routeKey is a request's method and route pattern.
type routeKey struct{ method, route string }

// requestRoute returns the route label of a request: "METHOD PATTERN" for a
// routed request, "unmatched" for one no route took. The labels are kept
// in a copy-on-write map, so that a request does not build its label.
func (m *metrics) requestRoute(method, route string) string {
	if route == "" {
		return "unmatched"
	}
	k := routeKey{methodLabel(method), route}
	if labels := m.routeLabels.Load(); labels != nil {
		if l, ok := (*labels)[k]; ok {
			return l
		}
	}
	for {
		old := m.routeLabels.Load()
		next := map[routeKey]string{}
		if old != nil {
			for k, v := range *old {
				next[k] = v
			}
		}
		l := k.method + " " + k.route
		next[k] = l
		if m.routeLabels.CompareAndSwap(old, &next) {
			return l
		}
	}
}

// logWriteErrors counts the writes a log file refused.
func (s *Server) logWriteErrors(log string) uint64 {
	switch log {
	case "server":
		if s.logOut != nil && s.logOut.file != nil {
			return s.logOut.file.Stats().WriteErrors
		}
	case "access":
		if s.accessOut != nil && s.accessOut.file != nil {
			return s.accessOut.file.Stats().WriteErrors
		}
	case "audit":
		if a := s.audit; a != nil {
			a.mu.Lock()
			w := a.w
			a.mu.Unlock()
			if w != nil {
				return w.Stats().WriteErrors
			}
		}
	}
	return 0
}
