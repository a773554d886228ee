package server

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// lineBuffer batches whole log lines before writing them to w: at most
// every flushEvery, or as soon as lineBufferSize bytes are waiting. It
// serves the access log, where one write(2) per request would cost more
// than the request; the price is that a crash loses the last flushEvery of
// access lines (never other log lines, which are written at once). Each
// Write must be whole lines, as slog handlers write; a flush writes whole
// lines too, so a line is never split between files by rotation.
//
// A lineBuffer is safe for concurrent use. Close flushes and stops the
// flushing goroutine.
type lineBuffer struct {
	w io.Writer

	mu  sync.Mutex // guards buf and the writes to w
	buf []byte

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

const (
	lineBufferSize = 32 << 10
	flushEvery     = 100 * time.Millisecond
)

func newLineBuffer(w io.Writer) *lineBuffer {
	b := &lineBuffer{w: w, buf: make([]byte, 0, lineBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= lineBufferSize {
		return len(p), b.flushLocked()
	}
	return len(p), nil
}

// flushLocked writes what is buffered. b.mu must be held.
func (b *lineBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	if cap(b.buf) > 4*lineBufferSize {
		b.buf = make([]byte, 0, lineBufferSize) // do not keep a huge line's buffer
	}
	return err
}

// Flush writes what is buffered now.
func (b *lineBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *lineBuffer) loop() {
	defer close(b.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush() // errors are the destination's to report (logrot counts them)
		case <-b.stop:
			return
		}
	}
}

// Close stops the flushing goroutine and flushes what is left.
func (b *lineBuffer) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}

// String is for tests: what is buffered and not yet written.
func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}
