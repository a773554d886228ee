package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	// Type is the event field ("message" when absent).
	Type string
	// Data is the data fields joined by "\n".
	Data string
	// ID is the event's own id field; HasID says it had one. (The WHATWG
	// "last event ID" is the reader's lastID.)
	ID    string
	HasID bool
	// IDOnly marks a block with an id and no data: WHATWG dispatches no
	// event for it but sets the last event ID; the watch server starts
	// every stream with one (the revision it starts after).
	IDOnly bool
}

// errSSETooLong is a line or an event longer than the reader's bound.
var errSSETooLong = errors.New("client: server-sent event too long")

// sseReader parses a text/event-stream per the WHATWG HTML standard
// (§9.2.6 "Interpreting an event stream"): lines end with CRLF, LF or
// CR; a line starting with ':' is a comment; "field: value" drops one
// space after the colon; a line with no colon is a field with an empty
// value; a blank line dispatches the event when it has data; unknown
// fields (and "retry") are ignored; an id holding NUL is ignored. It
// bounds a line and an event's data to max bytes. Unlike a browser it
// also returns a block that set the id without data (IDOnly).
type sseReader struct {
	r   *bufio.Reader
	max int
	// lastID is the WHATWG last event ID: the latest id field seen.
	lastID string
	// onLine, when set, is called for every line read, comments
	// included (the watch's idle timer).
	onLine func()

	line     []byte
	afterCR  bool // the previous line ended with CR: skip a LF
	firstBOM bool // the BOM check is done
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// readLine returns the next line without its end. At EOF the partial
// last line is discarded (the standard does not dispatch an incomplete
// event) and io.EOF returned.
func (p *sseReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		b, err := p.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if p.afterCR {
			p.afterCR = false
			if b == '\n' {
				continue // the LF of a CRLF
			}
		}
		switch b {
		case '\r':
			p.afterCR = true
			return p.checkBOM(p.line), nil
		case '\n':
			return p.checkBOM(p.line), nil
		}
		if len(p.line) >= p.max+16 {
			return nil, errSSETooLong
		}
		p.line = append(p.line, b)
	}
}

// checkBOM drops a UTF-8 BOM at the very start of the stream.
func (p *sseReader) checkBOM(line []byte) []byte {
	if !p.firstBOM {
		p.firstBOM = true
		return bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	return line
}

// next returns the next dispatched event, or the read error (io.EOF at
// the end of the stream).
func (p *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data strings.Builder
	hasData := false
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if p.onLine != nil {
			p.onLine()
		}
		if len(line) == 0 {
			if !hasData {
				if ev.HasID {
					return sseEvent{ID: ev.ID, HasID: true, IDOnly: true}, nil
				}
				ev = sseEvent{} // the WHATWG reset; lastID stays
				continue
			}
			ev.Data = data.String()
			if ev.Type == "" {
				ev.Type = "message"
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(name) {
		case "event":
			ev.Type = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			hasData = true
			if data.Len()+len(value) > p.max {
				return sseEvent{}, errSSETooLong
			}
			data.Write(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID, ev.HasID = string(value), true
				p.lastID = ev.ID
			}
		}
	}
}
