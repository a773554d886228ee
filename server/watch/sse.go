package watch

import (
	"encoding/base64"
	"strconv"
	"time"

	"amaters-server/server/store"
)

// appendEvents appends the SSE form of events to b: for each, an event
// field (put, delete, expire), a data field holding its JSON, and an id
// field with its revision when it is the last of its revision in events
// (see # Event ids). events never split a revision.
func appendEvents(b []byte, events []store.Event) []byte {
	for i := range events {
		ev := &events[i]
		if i+1 == len(events) || events[i+1].Revision != ev.Revision {
			b = append(b, "id: "...)
			b = strconv.AppendUint(b, ev.Revision, 10)
			b = append(b, '\n')
		}
		b = append(b, "event: "...)
		b = append(b, ev.Kind.String()...)
		b = append(b, "\ndata: "...)
		b = appendData(b, ev)
		b = append(b, "\n\n"...)
	}
	return b
}

// appendData appends an event's JSON: {"key":b64,"value":b64,
// "revision":R,"expires_at":RFC 3339}, value for a put only, expires_at
// when the put's value expires.
func appendData(b []byte, ev *store.Event) []byte {
	b = append(b, `{"key":"`...)
	b = base64.StdEncoding.AppendEncode(b, ev.Key)
	b = append(b, '"')
	if ev.Kind == store.EventPut {
		b = append(b, `,"value":"`...)
		b = base64.StdEncoding.AppendEncode(b, ev.Value)
		b = append(b, '"')
	}
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, ev.Revision, 10)
	if ev.Kind == store.EventPut && !ev.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":"`...)
		b = ev.ExpiresAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}

// The end codes of a stream.
const (
	codeSlowConsumer     = "slow_consumer"
	codeUnavailable      = "unavailable"
	codePermissionDenied = "permission_denied"
)

// appendEnd appends the error event that ends a stream. resume is the
// revision to resume from (0: none, for permission_denied).
func appendEnd(b []byte, code string, resume uint64) []byte {
	b = append(b, "event: error\ndata: {\"code\":\""...)
	b = append(b, code...)
	b = append(b, '"')
	if resume > 0 {
		b = append(b, `,"resume_from":`...)
		b = strconv.AppendUint(b, resume, 10)
	}
	return append(b, "}\n\n"...)
}

// appendStart appends the block that starts every stream: the comment
// ": watching" (the watch is registered) and the id of after, the
// revision the stream starts after. WHATWG parsers start each connection
// with an empty last event ID buffer and copy it into the source's last
// event ID at every dispatch, so without this id the id-less first events
// of a batch would set it to "", and a cut there would reconnect without
// Last-Event-ID. A block without data dispatches nothing, but sets the
// last event ID all the same.
func appendStart(b []byte, after uint64) []byte {
	b = append(b, ": watching\nid: "...)
	b = strconv.AppendUint(b, after, 10)
	return append(b, "\n\n"...)
}

// keepalive is the comment sent on an idle stream.
const keepalive = ": keepalive\n\n"
