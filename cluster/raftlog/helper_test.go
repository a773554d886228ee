package raftlog_test

import (
	"amaters-server/cluster/internal/crashfs"
	"amaters-server/lsm"
)

func lsmOpen(fs *crashfs.FS) (*lsm.DB, error) {
	return lsm.Open("/raft", lsm.Options{FS: fs})
}
