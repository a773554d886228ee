package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

const (
	backupRoot  = "amaters-backup/"
	formatEntry = "FORMAT"
	sumsEntry   = "BLAKE3SUMS"
	dbPrefix    = "db/"

	// formatVersion is the version of the layout above; part of the
	// backup format, never reused for another layout.
	formatVersion = 1

	// maxFormatBytes and maxSumsBytes bound what a reader holds in
	// memory. A sums line is at most 64+2+3+255+1 bytes, so 16 MiB
	// covers some 50 000 files.
	maxFormatBytes = 64 << 10
	maxSumsBytes   = 16 << 20
	// maxNameLen is the longest file name accepted in a backup.
	maxNameLen = 255
)

// Info describes a backup: it is the archive's FORMAT entry. The
// JSON member names are part of the backup format.
type Info struct {
	// Format is the layout version, 1.
	Format int `json:"format"`
	// ServerVersion is the version of the server that wrote the backup.
	ServerVersion string `json:"server_version"`
	// Created is when the checkpoint was taken, in UTC to the second.
	Created time.Time `json:"created"`
	// Engine is the server's storage.engine (lsm or memory); either
	// restores as an lsm data folder.
	Engine string `json:"engine"`
	// LastSequence is the last write sequence number the backup may
	// hold; writes numbered above it are not in it.
	LastSequence uint64 `json:"last_sequence"`
	// Files and Bytes count the database files (the db/ entries) and
	// their total size.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// encodeInfo is the FORMAT entry of an archive of info: its JSON, newline
// terminated, with Format set to this package's version.
func encodeInfo(info Info) []byte {
	info.Format = formatVersion
	data, err := json.Marshal(info)
	if err != nil {
		panic(fmt.Sprintf("backup: encode FORMAT: %v", err)) // plain fields only: a bug
	}
	return append(data, '\n')
}

// decodeInfo reads and checks a FORMAT entry.
func decodeInfo(data []byte) (Info, error) {
	var info Info
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&info); err != nil {
		return info, invalid(formatEntry, "is not valid JSON: %v", err)
	}
	if dec.More() {
		return info, invalid(formatEntry, "has data after its JSON object")
	}
	switch {
	case info.Format != formatVersion:
		return info, invalid(formatEntry, "is format version %d; this amaters-server reads version %d", info.Format, formatVersion)
	case info.Files < 2 || info.Bytes < 0:
		// A checkpoint has at least a manifest and CURRENT.
		return info, invalid(formatEntry, "announces %d files of %d bytes", info.Files, info.Bytes)
	}
	return info, nil
}
