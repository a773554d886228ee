package watch

// SetPageEvents sets how many history events Serve reads per snapshot, so
// that tests page through small histories.
func SetPageEvents(h *Hub, n int) { h.pageEvents = n }

// ParseQuery is parseQuery, for the fuzz target.
var ParseQuery = parseQuery

// HoldPublisher stops the publisher's fan-out (and registrations) until
// the returned func is called, so that tests can overflow its queue.
func HoldPublisher(h *Hub) (release func()) {
	h.mu.Lock()
	return h.mu.Unlock
}
