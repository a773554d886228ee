package promtext_test

import (
	"fmt"
	"os"

	"amaters-server/promtext"
)

func ExampleRegistry() {
	r := promtext.NewRegistry()

	ops := r.NewCounterVec("amaters_storage_ops_total", "Storage operations.", "op", "result")
	ops.With("get", "ok").Inc()
	ops.With("set", "ok").Add(2)

	conns := r.NewGauge("amaters_network_connections", "Open client connections.")
	conns.Inc()

	lat := r.NewHistogram("amaters_storage_latency_seconds", "Storage operation latency.", []float64{0.01, 0.1})
	lat.Observe(0.0078125) // 2⁻⁷: exact in binary, so the sum prints exactly
	lat.Observe(0.0625)

	r.NewGaugeVecFunc("amaters_lsm_level_files", "Live SSTables per LSM level.", []string{"level"},
		func(emit func(float64, ...string)) {
			for level, files := range []int{4, 10} {
				emit(float64(files), fmt.Sprint(level))
			}
		})

	if _, err := r.WriteTo(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// # HELP amaters_lsm_level_files Live SSTables per LSM level.
	// # TYPE amaters_lsm_level_files gauge
	// amaters_lsm_level_files{level="0"} 4
	// amaters_lsm_level_files{level="1"} 10
	// # HELP amaters_network_connections Open client connections.
	// # TYPE amaters_network_connections gauge
	// amaters_network_connections 1
	// # HELP amaters_storage_latency_seconds Storage operation latency.
	// # TYPE amaters_storage_latency_seconds histogram
	// amaters_storage_latency_seconds_bucket{le="0.01"} 1
	// amaters_storage_latency_seconds_bucket{le="0.1"} 2
	// amaters_storage_latency_seconds_bucket{le="+Inf"} 2
	// amaters_storage_latency_seconds_sum 0.0703125
	// amaters_storage_latency_seconds_count 2
	// # HELP amaters_storage_ops_total Storage operations.
	// # TYPE amaters_storage_ops_total counter
	// amaters_storage_ops_total{op="get",result="ok"} 1
	// amaters_storage_ops_total{op="set",result="ok"} 2
}

func ExampleCounterVec_SetMaxSeries() {
	r := promtext.NewRegistry()
	reads := r.NewCounterVec("amaters_collection_reads_total", "Reads per collection.", "collection")
	reads.SetMaxSeries(2) // collection names come from users
	for _, c := range []string{"users", "orders", "tmp1", "tmp2"} {
		reads.With(c).Inc()
	}
	r.WriteTo(os.Stdout)
	// Output:
	// # HELP amaters_collection_reads_total Reads per collection.
	// # TYPE amaters_collection_reads_total counter
	// amaters_collection_reads_total{collection="orders"} 1
	// amaters_collection_reads_total{collection="other"} 2
	// amaters_collection_reads_total{collection="users"} 1
}
