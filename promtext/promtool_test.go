package promtext_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"

	"amaters-server/promtext"
)

// TestPromtool pipes a full exposition (every family kind, escaping,
// process and Go families) through promtool check metrics, which must exit
// 0: 3 (lint problems) is a failure too. Without promtool on PATH the test
// skips, unless CI is set.
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not on PATH and CI is set (install the prometheus package)")
		}
		t.Skip("promtool is not on PATH")
	}
	r := fixedRegistry()
	promtext.RegisterGo(r)
	promtext.RegisterProcess(r)
	var out bytes.Buffer
	if _, err := r.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), path, "check", "metrics")
	cmd.Stdin = &out
	report, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("promtool check metrics exit %d:\n%s", ee.ExitCode(), report)
		}
		t.Fatal(err)
	}
}
