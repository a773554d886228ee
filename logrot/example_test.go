package logrot_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"amaters-server/logrot"
)

func ExampleWriter() {
	dir, err := os.MkdirTemp("", "logrot-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A fixed clock makes the backup names predictable; a server leaves
	// Clock nil.
	now := time.Date(2026, 11, 26, 18, 4, 5, 123_000_000, time.UTC)
	w, err := logrot.New(filepath.Join(dir, "server.log"), logrot.Options{
		MaxSize:    64, // bytes; tiny to show rotation
		MaxBackups: 10,
		Clock:      func() time.Time { return now },
		Fallback:   os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	for i := range 3 {
		logger.Info("request served", "n", i) // 36 bytes a line
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s", e.Name(), data)
	}
	fmt.Println("rotations:", w.Stats().Rotations)
	// Output:
	// server-2026-11-26T18-04-05.123.log: level=INFO msg="request served" n=0
	// server-2026-11-26T18-04-05.123_0001.log: level=INFO msg="request served" n=1
	// server.log: level=INFO msg="request served" n=2
	// rotations: 2
}
