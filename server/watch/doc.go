// Package watch is the change feed of API.md §8: a [Hub] fed with every
// committed group of changes by the store (store.Options.OnCommit), and
// an HTTP handler, [Hub.Serve], that streams the changes of one
// collection, narrowed to a key prefix or a range [start, end), as
// Server-Sent Events, from any revision the store's history still holds.
//
//	hub := watch.New(watch.Options{})
//	st, err := store.Open(db, store.Options{OnCommit: hub.Publish, HistoryRevisions: 100000})
//	…
//	// in the handler of GET /v1/collections/{c}/watch, once read access
//	// to c is authorized:
//	hub.Serve(w, r, st, watch.Request{Collection: c, Identity: who})
//	// on reload:
//	hub.Revoke(func(who any, c string) bool { return mayRead(who, c) })
//	// at shutdown, before http.Server.Shutdown:
//	hub.Close()
//
// # Fan-out
//
// Publish (OnCommit) runs in the committing goroutine with the store's
// commit lock held, so it only appends the group to the hub's queue and
// wakes the publisher: one goroutine that takes the queued groups in
// order and hands each watcher the events that match its collection and
// key filter, a whole group at once, into the watcher's own buffer.
// Filtering happens there, before buffering, so a watcher buffers only
// what it will send. Watchers are indexed by collection. A buffer holds
// pointers into the published groups, which nobody changes once
// published; each handler copies what it takes in its own goroutine, so
// the publisher's work per watcher is a compare and an append.
//
// Each watcher's buffer is bounded (Options.BufferEvents events and
// Options.BufferBytes bytes of keys and values). A watcher whose buffer
// is full is marked overflowed and its buffer dropped; the publisher
// never waits for it. Its own goroutine (the HTTP handler) then ends the
// stream with a slow_consumer error event whose resume_from is the first
// revision it did not deliver. The queue between Publish and the
// publisher is bounded as well (Options.QueueEvents); if the publisher
// ever falls that far behind, the groups that do not fit are dropped and
// every watcher is ended as a slow consumer at the first revision it
// did not get, so an event is never silently skipped and writers never
// wait.
//
// A handler takes its watcher's buffer under the watcher's mutex and
// writes it to the client with no lock held: a slow client slows nobody
// but itself.
//
// # Hand-over from history to live
//
// A watch starts at revision F (from, Last-Event-ID + 1, or the current
// revision + 1). Its handler:
//
//  1. Registers its watcher with the hub; from then on the publisher
//     buffers every matching event it fans out.
//  2. Calls History(F, …) and sends the matching events it reads, in
//     order. Let L be the revision of the last event History read
//     (F-1 if none).
//  3. Sends the buffered and later events of revision > L, dropping
//     the others; then everything the publisher hands it.
//
// No gap: an event of revision R ≥ F not read by History was committed
// after History's snapshot, which was taken after step 1. The store calls
// OnCommit after the commit is visible, so Publish queued it after step
// 1, and the publisher (which fans out in queue order, to the watchers
// registered when it fans out) gave it to the watcher. R > L because
// every revision up to the snapshot's has all its events in the snapshot
// (a revision is written in one atomic batch), and L is at most the
// snapshot's revision.
//
// No duplicate: an event of revision ≤ L is dropped from the buffer, and
// History read every event of those revisions (all or none of a revision
// is in the snapshot); an event of revision > L was not read by History
// (it read nothing past L), and the publisher hands each group to a
// watcher once.
//
// Order: History reads in revision order; the publisher fans out in
// commit order, which is revision order; and everything buffered is
// newer than L.
//
// Step 2 reads the history in pages of about a thousand events, each
// from its own snapshot and never ending inside a revision, and sends
// each page before reading the next, so that a slow client does not hold
// an lsm snapshot open. Every snapshot is taken after step 1, so the
// argument holds with L the last revision of the last page. Revisions
// with no matching event count too: L is the last revision read, and a
// resume_from may pass revisions that held nothing for the watch.
//
// If the buffer overflows during step 2 (a long history read while writes
// go on), the handler does not give up: it empties the buffer, clears
// the mark and goes on reading pages from L + 1, which the same argument
// covers (the events lost from the buffer were committed before the next
// page's snapshot). Only a pass that makes no progress ends the watch as
// a slow consumer.
//
// # Event ids
//
// Every event's data carries its revision. The SSE id field, which a
// client echoes in Last-Event-ID to resume at the next revision, is sent
// on the last event of each revision only: the ops of a batch share a
// revision, and a connection cut in the middle of one must resume at that
// revision, not after it. For the usual single-op revision every event
// has its id; events of a batch but its last have none (the WHATWG
// parser then keeps the previous id, that of the revision before).
//
// # Stream
//
// The 200 answer has Content-Type text/event-stream, Cache-Control
// no-cache, X-Accel-Buffering no (proxies must not buffer it) and
// Amaters-Revision, the database revision read right after the watch
// registered (a watch without from streams the revisions after it). It
// is flushed before any byte, so that a compressing middleware leaves it
// alone, and opens with the block ": watching" (the watch is registered)
// and "id: F-1", F the first revision it streams. That block dispatches
// nothing, but WHATWG parsers start every connection with an empty last
// event ID and copy it into the source's at each dispatch: without it,
// the id-less first events of a batch would clear EventSource's
// lastEventId, and a cut there would reconnect without Last-Event-ID.
//
// # Ends
//
// A stream ends with an error event, data {"code":…}: slow_consumer and
// unavailable (the hub closed: the server is shutting down) with
// "resume_from"; permission_denied (Revoke found the watch's identity no
// longer allowed). A compacted start is refused before the stream begins
// with 410 and the oldest revision. Should a later history page fail (the
// history trimmed past it meanwhile, or the store closed), the stream
// ends as a slow consumer at L + 1, and the resuming client hears why
// (410, or 503).
//
// # Deadlines
//
// Serve clears the connection's read deadline (the server's ReadTimeout
// would otherwise cancel a long stream's context) and sets a write
// deadline of Options.WriteTimeout before each write, so a healthy stream
// lives as long as it likes, a client that stops reading is cut after
// WriteTimeout, and keepalives (Options.Keepalive) keep idle streams
// writing.
//
// # Concurrency
//
// A [Hub] is safe for concurrent use. It owns one goroutine, the
// publisher, which Close stops and waits for. Close ends every open watch
// with the unavailable event; the handlers return once they wrote it.
package watch
