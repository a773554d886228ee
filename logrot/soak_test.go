//go:build soak

package logrot_test

import "testing"

// TestConcurrentWritersSoak is TESTING.md §6 at full size: 1000 goroutines
// × 1000 lines through a 4 KiB MaxSize, about 5000 rotations in one
// millisecond. Run with go test -tags soak.
func TestConcurrentWritersSoak(t *testing.T) {
	testConcurrentWriters(t, 1000, 1000)
}
