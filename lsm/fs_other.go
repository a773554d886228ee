//go:build !unix

package lsm

import (
	"io"
	"os"
)

// lockFile only creates the file: there is no portable advisory lock in
// the standard library outside unix.
func lockFile(name string) (io.Closer, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
}
