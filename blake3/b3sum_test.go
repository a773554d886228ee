package blake3_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/blake3"
)

// TestB3sum compares the package with the b3sum command of the reference
// implementation (Debian package b3sum) on random files of sizes around
// every block, chunk and batch boundary, in all three modes and at several
// output lengths. Without b3sum on PATH the test is skipped, unless the CI
// environment variable is set: CI installs b3sum, so there a missing
// command is a failure.
func TestB3sum(t *testing.T) {
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("b3sum is not on PATH and CI is set: %v", err)
		}
		t.Skip("b3sum not on PATH (apt-get install b3sum); set CI to make this a failure")
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	sizes := []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 3073, 8192 + 1,
		16383, 16384, 16385, 17408, 31744, 32768, 48128, 65536, 100000, 1 << 20, 1<<20 + 17}
	dir := t.TempDir()
	files := make([]string, len(sizes))
	data := make([][]byte, len(sizes))
	for i, n := range sizes {
		data[i] = make([]byte, n)
		for j := range data[i] {
			data[i][j] = byte(rng.Uint32())
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(files[i], data[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, blake3.KeySize)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	const context = "amaters-server 2025 b3sum test context"

	modes := []struct {
		name  string
		args  []string
		stdin []byte
		newH  func() *blake3.Hasher
	}{
		{"hash", nil, nil, blake3.New},
		{"keyed", []string{"--keyed"}, key, func() *blake3.Hasher { return mustKeyed(t, key) }},
		{"derive-key", []string{"--derive-key", context}, nil, func() *blake3.Hasher { return blake3.NewDeriveKey(context) }},
	}
	for _, m := range modes {
		for _, length := range []int{32, 1, 65, 131, 1000} {
			t.Run(fmt.Sprintf("%s/l%d", m.name, length), func(t *testing.T) {
				args := append(append([]string{}, m.args...), "-l", fmt.Sprint(length))
				args = append(args, files...)
				cmd := exec.CommandContext(t.Context(), b3sum, args...)
				cmd.Stdin = bytes.NewReader(m.stdin)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("b3sum %v: %v", args, err)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if len(lines) != len(files) {
					t.Fatalf("b3sum printed %d lines for %d files", len(lines), len(files))
				}
				for i, line := range lines {
					sum, name, ok := strings.Cut(line, "  ")
					if !ok || name != files[i] {
						t.Fatalf("unexpected b3sum line %q", line)
					}
					h := m.newH()
					h.Write(data[i])
					got := make([]byte, length)
					if _, err := io.ReadFull(h.XOF(), got); err != nil {
						t.Fatal(err)
					}
					if hex.EncodeToString(got) != sum {
						t.Errorf("size %d: got %x, b3sum %s", sizes[i], got, sum)
					}
				}
			})
		}
	}
}
