package config

import "strings"

// Error is one configuration problem, printed as
// "FILE:LINE: section.key: message" (or "$ENV: ..." / "flag --x: ...").
type Error struct {
	Where   string // "config.toml:12", "$AMATERS_DATA_DIR", "flag --bind", or "" for a default
	Key     string // "server.bind_address"; "" for a whole-file problem
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Problems undoes errors.Join: it lists the single problems in an error
// from [Load] or [Config.Validate] (or a caller's validation that joins
// them likewise), each printable on its own line. A nil error has none.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}
