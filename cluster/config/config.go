package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"amaters-server/rbac"
	srvconfig "amaters-server/server/config"

	"github.com/BurntSushi/toml"
)

// Cluster is the [cluster] section. The zero value is not the default:
// start from [Default].
type Cluster struct {
	NodeID           uint64   // node_id: required, ≥ 1, never reused
	PeerAddress      string   // peer_address: the peer listener
	AdvertisePeerURL string   // advertise_peer_url: "" means derived from PeerAddress
	InitialMembers   []string // initial_members: "id=url" entries
	InitialState     string   // initial_state: new or existing
	PeerTLSCert      string   // peer_tls_cert
	PeerTLSKey       string   // peer_tls_key
	PeerTLSCA        string   // peer_tls_ca
	ElectionMs       int64    // election_ms
	HeartbeatMs      int64    // heartbeat_ms
	SnapshotEntries  int64    // snapshot_entries
	RequestTimeoutMs int64    // request_timeout_ms
	InsecurePeers    bool     // insecure_peers

	// origin maps a key ("cluster.node_id") to where it was set, for
	// problems; absent means the default.
	origin map[string]string
}

// Default is the section with every default of API.md §9.
func Default() Cluster {
	return Cluster{
		PeerAddress:      "127.0.0.1:7880",
		InitialState:     "new",
		ElectionMs:       1000,
		HeartbeatMs:      100,
		SnapshotEntries:  10000,
		RequestTimeoutMs: 5000,
	}
}

// keys binds each key to its field; one table for the file and the
// environment.
func (c *Cluster) keys() map[string]any {
	return map[string]any{
		"node_id":            &c.NodeID,
		"peer_address":       &c.PeerAddress,
		"advertise_peer_url": &c.AdvertisePeerURL,
		"initial_members":    &c.InitialMembers,
		"initial_state":      &c.InitialState,
		"peer_tls_cert":      &c.PeerTLSCert,
		"peer_tls_key":       &c.PeerTLSKey,
		"peer_tls_ca":        &c.PeerTLSCA,
		"election_ms":        &c.ElectionMs,
		"heartbeat_ms":       &c.HeartbeatMs,
		"snapshot_entries":   &c.SnapshotEntries,
		"request_timeout_ms": &c.RequestTimeoutMs,
		"insecure_peers":     &c.InsecurePeers,
	}
}

func isPath(key string) bool { return strings.HasPrefix(key, "peer_tls_") }

// Load reads the [cluster] table of the TOML file at path (if path is not
// ""), then AMATERS_CLUSTER_* variables from env. Other sections are
// ignored. The error joins every problem, each a *srvconfig.Error.
func Load(path string, env []string) (Cluster, error) {
	c := Default()
	c.origin = map[string]string{}
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, &srvconfig.Error{Where: path, Message: err.Error()}
		}
		errs = append(errs, c.applyFile(path, data)...)
	}
	errs = append(errs, c.applyEnv(env)...)
	return c, errors.Join(errs...)
}

func (c *Cluster) applyFile(path string, data []byte) []error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{&srvconfig.Error{Where: fmt.Sprintf("%s:%d", path, pe.Position.Line), Message: "TOML syntax: " + pe.Message}}
		}
		return []error{&srvconfig.Error{Where: path, Message: "TOML syntax: " + err.Error()}}
	}
	raw, ok := doc["cluster"]
	if !ok {
		return nil
	}
	pos := rbac.ScanTOML(string(data))
	where := func(name string) string {
		if n := pos.Table("cluster").Key(name); n > 0 {
			return fmt.Sprintf("%s:%d", path, n)
		}
		if n := pos.Key("cluster"); n > 0 {
			return fmt.Sprintf("%s:%d", path, n)
		}
		return path
	}
	table, ok := raw.(map[string]any)
	if !ok {
		return []error{&srvconfig.Error{Where: where(""), Key: "cluster", Message: "must be a table: [cluster]"}}
	}
	return c.applyTable(table, where, filepath.Dir(path))
}

// Section is the [cluster] section for server/config.LoadWith, which
// loads the whole file (every section, with the server's strictness):
// its Load applies the table and then the AMATERS_CLUSTER_* variables to
// *c, which should start as [Default]. After LoadWith, apply the flags
// (Set), then Validate.
func Section(c *Cluster) srvconfig.Section {
	return srvconfig.Section{Name: "cluster", Load: func(in srvconfig.SectionInput) []error {
		if c.origin == nil {
			c.origin = map[string]string{}
		}
		errs := c.applyTable(in.Table, in.Where, in.Dir)
		env := make([]string, 0, len(in.Env))
		for k, v := range in.Env {
			env = append(env, k+"="+v)
		}
		slices.Sort(env)
		return append(errs, c.applyEnv(env)...)
	}}
}

// applyTable applies the keys of the [cluster] table; relative paths are
// relative to dir.
func (c *Cluster) applyTable(table map[string]any, where func(string) string, dir string) []error {
	keys := c.keys()
	var errs []error
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		key := "cluster." + name
		p, ok := keys[name]
		if !ok {
			errs = append(errs, &srvconfig.Error{Where: where(name), Key: key, Message: "unknown key; known keys: " + strings.Join(sortedNames(keys), ", ")})
			continue
		}
		if err := setTOML(p, table[name]); err != nil {
			errs = append(errs, &srvconfig.Error{Where: where(name), Key: key, Message: err.Error()})
			continue
		}
		if isPath(name) {
			if s := p.(*string); *s != "" && !filepath.IsAbs(*s) {
				*s = filepath.Join(dir, *s)
			}
		}
		c.origin[key] = where(name)
	}
	return errs
}

func sortedNames(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func setTOML(p any, v any) error {
	switch p := p.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string, not %s", rbac.TOMLTypeName(v))
		}
		*p = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("must be true or false, not %s", rbac.TOMLTypeName(v))
		}
		*p = b
	case *int64:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("must be an integer, not %s", rbac.TOMLTypeName(v))
		}
		*p = n
	case *uint64:
		n, ok := v.(int64)
		if !ok || n < 0 {
			return fmt.Errorf("must be a positive integer, not %v", v)
		}
		*p = uint64(n)
	case *[]string:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("must be an array of strings, not %s", rbac.TOMLTypeName(v))
		}
		out := make([]string, 0, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("element %d must be a string, not %s", i, rbac.TOMLTypeName(e))
			}
			out = append(out, s)
		}
		*p = out
	}
	return nil
}

func setString(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("must be true or false, not %q", s)
		}
		*p = b
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("must be an integer, not %q", s)
		}
		*p = n
	case *uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("must be a positive integer, not %q", s)
		}
		*p = n
	case *[]string:
		*p = nil
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				*p = append(*p, e)
			}
		}
	}
	return nil
}

// applyEnv applies AMATERS_CLUSTER_<KEY>; an unknown key is a problem.
func (c *Cluster) applyEnv(env []string) []error {
	keys := c.keys()
	var errs []error
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		name, isCluster := strings.CutPrefix(k, "AMATERS_CLUSTER_")
		if !ok || !isCluster {
			continue
		}
		name = strings.ToLower(name)
		where := "$" + k
		p, ok := keys[name]
		if !ok {
			errs = append(errs, &srvconfig.Error{Where: where, Key: "cluster." + name, Message: "unknown key; known keys: " + strings.Join(sortedNames(keys), ", ")})
			continue
		}
		if err := setString(p, v); err != nil {
			errs = append(errs, &srvconfig.Error{Where: where, Key: "cluster." + name, Message: err.Error()})
			continue
		}
		c.origin["cluster."+name] = where
	}
	return errs
}

// Set applies a command-line flag's value to key ("node_id"), recording
// where as its origin ("flag --node-id").
func (c *Cluster) Set(key, value, where string) error {
	p, ok := c.keys()[key]
	if !ok {
		return fmt.Errorf("config: no cluster key %q", key)
	}
	if err := setString(p, value); err != nil {
		return &srvconfig.Error{Where: where, Key: "cluster." + key, Message: err.Error()}
	}
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin["cluster."+key] = where
	return nil
}

// TLS reports whether peer mTLS is configured.
func (c *Cluster) TLS() bool { return c.PeerTLSCert != "" || c.PeerTLSKey != "" || c.PeerTLSCA != "" }

// AdvertiseURL is advertise_peer_url, or the URL derived from
// peer_address (https with peer TLS, http without).
func (c *Cluster) AdvertiseURL() string {
	if c.AdvertisePeerURL != "" {
		return c.AdvertisePeerURL
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + c.PeerAddress
}

// Members parses initial_members into id → peer URL.
func (c *Cluster) Members() (map[uint64]string, error) {
	out := map[uint64]string{}
	for i, m := range c.InitialMembers {
		idStr, u, ok := strings.Cut(m, "=")
		if !ok {
			return nil, fmt.Errorf("initial_members[%d] %q: want id=url", i, m)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idStr), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("initial_members[%d] %q: id must be an integer ≥ 1", i, m)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("initial_members[%d]: id %d appears twice", i, id)
		}
		u = strings.TrimSpace(u)
		if err := checkURL(u, c.TLS()); err != nil {
			return nil, fmt.Errorf("initial_members[%d] %q: %v", i, m, err)
		}
		out[id] = strings.TrimSuffix(u, "/")
	}
	return out, nil
}

func checkURL(s string, tls bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	want := "http"
	if tls {
		want = "https"
	}
	if u.Scheme != want || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("want %s://host:port (%s because peer TLS is %s)", want, want, map[bool]string{true: "set", false: "not set"}[tls])
	}
	return nil
}

// ElectionTicks is election_ms in heartbeats.
func (c *Cluster) ElectionTicks() int { return int(c.ElectionMs / max(c.HeartbeatMs, 1)) }

// Heartbeat is heartbeat_ms as a duration.
func (c *Cluster) Heartbeat() time.Duration { return time.Duration(c.HeartbeatMs) * time.Millisecond }

// RequestTimeout is request_timeout_ms as a duration.
func (c *Cluster) RequestTimeout() time.Duration {
	return time.Duration(c.RequestTimeoutMs) * time.Millisecond
}

// Validate checks every value and the rules between them, and returns
// every problem, joined, each a *srvconfig.Error.
func (c *Cluster) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &srvconfig.Error{Where: c.origin["cluster."+key], Key: "cluster." + key, Message: fmt.Sprintf(format, args...)})
	}
	if c.NodeID == 0 {
		bad("node_id", "is required: an integer ≥ 1, unique in the cluster and never reused")
	}
	if _, _, err := net.SplitHostPort(c.PeerAddress); err != nil {
		bad("peer_address", "%q is not host:port", c.PeerAddress)
	}
	if c.AdvertisePeerURL != "" {
		if err := checkURL(c.AdvertisePeerURL, c.TLS()); err != nil {
			bad("advertise_peer_url", "%q: %v", c.AdvertisePeerURL, err)
		}
	}
	switch c.InitialState {
	case "new", "existing":
	default:
		bad("initial_state", "%q: want new or existing", c.InitialState)
	}
	members, err := c.Members()
	switch {
	case err != nil:
		bad("initial_members", "%v", err)
	case len(members) == 0:
		bad("initial_members", "is required: every member as \"id=url\", this one included")
	case c.NodeID != 0 && members[c.NodeID] == "":
		bad("initial_members", "does not name this member (node_id %d)", c.NodeID)
	case c.NodeID != 0 && members[c.NodeID] != strings.TrimSuffix(c.AdvertiseURL(), "/"):
		bad("initial_members", "names this member (node_id %d) at %s, but it advertises %s", c.NodeID, members[c.NodeID], c.AdvertiseURL())
	}
	if err == nil && !c.TLS() && !c.InsecurePeers {
		for id, u := range members {
			if host := hostOf(u); !isLoopback(host) {
				bad("initial_members", "member %d at %s is not on loopback: without peer TLS (peer_tls_cert, peer_tls_key, peer_tls_ca) peers are served on loopback only; set them, or insecure_peers = true on a trusted network", id, u)
				break
			}
		}
	}
	tlsKeys := map[string]string{"peer_tls_cert": c.PeerTLSCert, "peer_tls_key": c.PeerTLSKey, "peer_tls_ca": c.PeerTLSCA}
	if c.TLS() {
		for _, k := range []string{"peer_tls_cert", "peer_tls_key", "peer_tls_ca"} {
			v := tlsKeys[k]
			if v == "" {
				bad(k, "is required when any peer TLS key is set (all three or none)")
				continue
			}
			if f, err := os.Open(v); err != nil {
				bad(k, "%v", err)
			} else {
				f.Close()
			}
		}
	}
	if c.HeartbeatMs < 1 {
		bad("heartbeat_ms", "%d: must be ≥ 1", c.HeartbeatMs)
	} else if c.ElectionMs < 2*c.HeartbeatMs {
		bad("election_ms", "%d: must be at least twice heartbeat_ms (%d)", c.ElectionMs, c.HeartbeatMs)
	}
	if c.SnapshotEntries < 1 {
		bad("snapshot_entries", "%d: must be ≥ 1", c.SnapshotEntries)
	}
	if c.RequestTimeoutMs < 1 {
		bad("request_timeout_ms", "%d: must be ≥ 1", c.RequestTimeoutMs)
	}
	return errors.Join(errs...)
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MarshalTOML writes the effective [cluster] section as TOML, every key
// included (advertise_peer_url as it is derived), in the order of
// API.md §9; `validate-config --show` prints it after the other
// sections. It holds no secret: the peer TLS keys are file names.
func (c *Cluster) MarshalTOML() []byte {
	q := func(s string) string {
		out, err := toml.Marshal(map[string]string{"v": s})
		if err != nil {
			return strconv.Quote(s)
		}
		return strings.TrimSpace(strings.TrimPrefix(string(out), "v = "))
	}
	var b strings.Builder
	b.WriteString("[cluster]\n")
	fmt.Fprintf(&b, "node_id = %d\n", c.NodeID)
	fmt.Fprintf(&b, "peer_address = %s\n", q(c.PeerAddress))
	fmt.Fprintf(&b, "advertise_peer_url = %s\n", q(c.AdvertiseURL()))
	members := make([]string, len(c.InitialMembers))
	for i, m := range c.InitialMembers {
		members[i] = q(m)
	}
	fmt.Fprintf(&b, "initial_members = [%s]\n", strings.Join(members, ", "))
	fmt.Fprintf(&b, "initial_state = %s\n", q(c.InitialState))
	fmt.Fprintf(&b, "peer_tls_cert = %s\n", q(c.PeerTLSCert))
	fmt.Fprintf(&b, "peer_tls_key = %s\n", q(c.PeerTLSKey))
	fmt.Fprintf(&b, "peer_tls_ca = %s\n", q(c.PeerTLSCA))
	fmt.Fprintf(&b, "election_ms = %d\n", c.ElectionMs)
	fmt.Fprintf(&b, "heartbeat_ms = %d\n", c.HeartbeatMs)
	fmt.Fprintf(&b, "snapshot_entries = %d\n", c.SnapshotEntries)
	fmt.Fprintf(&b, "request_timeout_ms = %d\n", c.RequestTimeoutMs)
	fmt.Fprintf(&b, "insecure_peers = %t\n", c.InsecurePeers)
	return []byte(b.String())
}
