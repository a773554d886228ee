package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LatencySummary is the latency distribution of a run. In JSON every field
// is a float number of milliseconds: p50_ms, p90_ms, p99_ms, p999_ms,
// max_ms, mean_ms.
type LatencySummary struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

// MarshalJSON writes the durations as float milliseconds.
func (s LatencySummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		P50  float64 `json:"p50_ms"`
		P90  float64 `json:"p90_ms"`
		P99  float64 `json:"p99_ms"`
		P999 float64 `json:"p999_ms"`
		Max  float64 `json:"max_ms"`
		Mean float64 `json:"mean_ms"`
	}{millis(s.P50), millis(s.P90), millis(s.P99), millis(s.P999), millis(s.Max), millis(s.Mean)})
}

// millis converts a duration to float milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Result is the outcome of [Run]. Its JSON form (MarshalJSON) has
// the fields workload, target, addr, clients, keys, value_size,
// preloaded_keys, ops, errors, errors_by_status (status code as a string →
// count), transport_errors, first_error (omitted when empty), elapsed_ms,
// ops_per_sec and latency ([LatencySummary]).
type Result struct {
	Workload  string // canonical workload name
	Target    string
	Addr      string
	Clients   int
	Keys      int
	ValueSize int
	// Preloaded is the number of keys written before the run.
	Preloaded int
	// Ops counts the requests answered 2xx. A batch request is one op
	// (of BatchSize sets).
	Ops int64
	// Errors counts failed requests: non-2xx answers, by status in
	// ErrorsByStatus, and transport failures in TransportErrors. Requests
	// cut off by the end of ctx are counted nowhere. Ops+Errors requests
	// were sent.
	Errors          int64
	ErrorsByStatus  map[int]int64
	TransportErrors int64
	// FirstError describes the first failure, for the human to start from.
	FirstError string
	// Elapsed is the time from the first request to the last answer.
	Elapsed   time.Duration
	OpsPerSec float64
	// Latency summarizes the time of each successful request, from before
	// it was sent to after its body was read.
	Latency LatencySummary
}

// MarshalJSON writes the result with snake_case names and durations in
// float milliseconds; see [Result].
func (r Result) MarshalJSON() ([]byte, error) {
	byStatus := make(map[string]int64, len(r.ErrorsByStatus))
	for status, n := range r.ErrorsByStatus {
		byStatus[strconv.Itoa(status)] = n
	}
	return json.Marshal(struct {
		Workload        string           `json:"workload"`
		Target          string           `json:"target"`
		Addr            string           `json:"addr"`
		Clients         int              `json:"clients"`
		Keys            int              `json:"keys"`
		ValueSize       int              `json:"value_size"`
		Preloaded       int              `json:"preloaded_keys"`
		Ops             int64            `json:"ops"`
		Errors          int64            `json:"errors"`
		ErrorsByStatus  map[string]int64 `json:"errors_by_status"`
		TransportErrors int64            `json:"transport_errors"`
		FirstError      string           `json:"first_error,omitempty"`
		Elapsed         float64          `json:"elapsed_ms"`
		OpsPerSec       float64          `json:"ops_per_sec"`
		Latency         LatencySummary   `json:"latency"`
	}{r.Workload, r.Target, r.Addr, r.Clients, r.Keys, r.ValueSize, r.Preloaded, r.Ops, r.Errors,
		byStatus, r.TransportErrors, r.FirstError, millis(r.Elapsed), r.OpsPerSec, r.Latency})
}

// WriteHuman writes the result as a few aligned lines for a terminal.
func (r Result) WriteHuman(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workload   %s on %s at %s (%d clients, %d keys, %d-byte values", r.Workload, r.Target, r.Addr, r.Clients, r.Keys, r.ValueSize)
	if r.Preloaded > 0 {
		fmt.Fprintf(&b, ", %d preloaded", r.Preloaded)
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "elapsed    %.2f s\n", r.Elapsed.Seconds())
	fmt.Fprintf(&b, "ops        %d (%.1f ops/s)\n", r.Ops, r.OpsPerSec)
	fmt.Fprintf(&b, "errors     %d", r.Errors)
	if r.Errors > 0 {
		var parts []string
		for _, status := range slices.Sorted(maps.Keys(r.ErrorsByStatus)) {
			parts = append(parts, fmt.Sprintf("%d: %d", status, r.ErrorsByStatus[status]))
		}
		if r.TransportErrors > 0 {
			parts = append(parts, fmt.Sprintf("transport: %d", r.TransportErrors))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first      %s\n", r.FirstError)
	}
	l := r.Latency
	fmt.Fprintf(&b, "latency    p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, mean %.3f ms\n",
		millis(l.P50), millis(l.P90), millis(l.P99), millis(l.P999), millis(l.Max), millis(l.Mean))
	_, err := io.WriteString(w, b.String())
	return err
}
