package watch

// SetPageEvents sets how many history events Serve reads per snapshot, so
// that tests page through small histories.
func SetPageEvents(h *Hub, n int) { h.pageEvents = n }

// ParseQuery is parseQuery, for the fuzz target.
var ParseQuery = parseQuery
