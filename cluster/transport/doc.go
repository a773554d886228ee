// Package transport carries raft messages between cluster members over
// HTTP/2.
//
// # Protocol
//
// A member POSTs batches of messages to a peer's /raft/v1/messages: the
// body is a sequence of frames (see [AppendFrame]), the headers
// Amaters-Peer-From and Amaters-Peer-To name the sender and the receiver
// by raft id, and the answer is 204 once every message was stepped. A
// MsgSnap goes alone to /raft/v1/snapshot: its frame, then the state
// machine's snapshot data as a stream to the end of the body. raft's
// snapshot carries only metadata.
//
// Each peer has one sender goroutine and a bounded queue. [Transport.Send]
// never blocks: a full queue drops the message, counts it and reports the
// peer unreachable to raft, which retransmits; a failed request does the
// same. One request is in flight per peer, so messages arrive in order.
//
// # Security
//
// With Options.TLS the listener requires client certificates from the
// peer CA, and a request is served only if its certificate is valid for
// the host of the claimed member's peer URL (as a server certificate for
// that URL would be). Without TLS (protected mode) only loopback peers
// are served, unless Options.InsecurePeers. In both modes the sender's
// id must be a current member, the receiver's id this member, and every
// message in the body must be from the sender and for this member, and
// of a type that travels between members; otherwise the whole request is
// refused (403) before anything is stepped, and counted. Every decoded
// message is bounded by Options.MaxMessageBytes and a request body by
// that plus Options.BatchBytes; an oversize frame is refused before its
// bytes are read. The decoder is fuzzed (FuzzDecode).
//
// # Concurrency
//
// A Transport is safe for concurrent use. Close stops every goroutine it
// started and waits for them.
package transport
