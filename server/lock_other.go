//go:build !unix

package server

import (
	"io"
	"os"
	"strconv"
	"strings"
)

// lockFile only creates the file and records the process ID: there is no
// portable advisory lock in the standard library outside unix.
func lockFile(name string, mode os.FileMode) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return nil, err
	}
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func flockNB(*os.File) error { return nil }

func sameFile(*os.File) bool { return true }

func readPID(name string) int {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return max(pid, 0)
}
