package network

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for s, want := range map[string]rule{
		"example.com":                   {kind: ruleName, name: "example.com"},
		"Example.COM.":                  {kind: ruleName, name: "example.com"},
		"example.com:443":               {kind: ruleName, name: "example.com", port: 443},
		"*.example.com":                 {kind: ruleWildcard, name: "example.com"},
		"*.Example.com.:8443":           {kind: ruleWildcard, name: "example.com", port: 8443},
		"_acme.example.com":             {kind: ruleName, name: "_acme.example.com"},
		"1.2.3.4":                       {kind: rulePrefix, prefix: netip.MustParsePrefix("1.2.3.4/32")},
		"1.2.3.4:80":                    {kind: rulePrefix, prefix: netip.MustParsePrefix("1.2.3.4/32"), port: 80},
		"10.0.0.0/8":                    {kind: rulePrefix, prefix: netip.MustParsePrefix("10.0.0.0/8")},
		"10.1.2.3/8:5432":               {kind: rulePrefix, prefix: netip.MustParsePrefix("10.0.0.0/8"), port: 5432},
		"[fd00::1]:443":                 {kind: rulePrefix, prefix: netip.MustParsePrefix("fd00::1/128"), port: 443},
		"[fd00::1]":                     {kind: rulePrefix, prefix: netip.MustParsePrefix("fd00::1/128")},
		"fd00::1":                       {kind: rulePrefix, prefix: netip.MustParsePrefix("fd00::1/128")},
		"fd00::/64":                     {kind: rulePrefix, prefix: netip.MustParsePrefix("fd00::/64")},
		"[fd00::/64]:53":                {kind: rulePrefix, prefix: netip.MustParsePrefix("fd00::/64"), port: 53},
		"::ffff:1.2.3.4":                {kind: rulePrefix, prefix: netip.MustParsePrefix("1.2.3.4/32")},
		"host.containers.internal":      {kind: ruleGateway},
		"HOST.containers.internal.:631": {kind: ruleGateway, port: 631},
	} {
		got, err := parseRule(s)
		if err != nil || got != want {
			t.Errorf("parseRule(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for s, want := range map[string]string{
		"":                      "empty host",
		":443":                  "empty host",
		"example.com:":          "empty port",
		"example.com:0":         "bad port",
		"example.com:65536":     "bad port",
		"example.com:http":      "bad port",
		"example.com:-1":        "bad port",
		"*":                     "want a name",
		"*:443":                 "want a name",
		"*.":                    "want a name",
		"exa mple.com":          "invalid character ' '",
		"a.*.example.com":       "wildcard",
		"**.example.com":        "wildcard",
		"example..com":          "empty label",
		"-example.com":          "hyphen",
		"1.2.3":                 "neither an IP address nor a name",
		"1.2.3.256":             "neither an IP address nor a name",
		"10.0.0.0/33":           "bad CIDR",
		"[fd00::1":              "unterminated",
		"[fd00::1]443":          "want [IPv6]:PORT",
		"[fd00::1]:":            "empty port",
		"[1.2.3.4]:80":          "IPv6",
		"fd00::1::2":            "bad IPv6",
		"fe80::1%eth0":          "zone",
		"::ffff:1.2.3.0/120":    "IPv4-mapped",
		"example.com\n":         "invalid character",
		strings.Repeat("a", 64): "longer than 63",
	} {
		_, err := parseRule(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRule(%q) error = %v; want it to contain %q", s, err, want)
		}
	}
}

func TestEgressValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Egress = &Egress{Allow: []string{"example.com", "exa mple.com"}}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `allow "exa mple.com": `) {
		t.Errorf("Validate = %v; want the bad entry named", err)
	}
	cfg.Egress = &Egress{Allow: []string{"example.com"}, Log: "egress.log"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("Validate with a relative log = %v; want an error", err)
	}
	cfg.Egress = &Egress{Allow: []string{"example.com:443", "*.example.org", "[fd00::1]:443"}, Log: "/tmp/egress.log"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	// It travels to the stack process as JSON.
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Egress, cfg.Egress) {
		t.Errorf("JSON round trip: %+v, %v", back.Egress, err)
	}
	if data, _ := json.Marshal(DefaultConfig()); strings.Contains(string(data), "Egress") {
		t.Errorf("a config without Egress marshals it: %s", data)
	}
}

func mustPolicy(t *testing.T, allow ...string) *Policy {
	t.Helper()
	p, err := (&Egress{Allow: allow}).Policy(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestPolicyNames(t *testing.T) {
	p := mustPolicy(t, "example.com:443", "*.example.org", "1.2.3.4", "host.containers.internal:8080")
	for name, want := range map[string]bool{
		"example.com":              true,
		"EXAMPLE.com.":             true,
		"www.example.com":          false,
		"example.org":              false, // the wildcard is not the apex
		"a.example.org":            true,
		"a.b.c.example.org":        true,
		"aexample.org":             false,
		"1.2.3.4":                  false,
		"host.containers.internal": false,
		"":                         false,
	} {
		if got := p.AllowName(name); got != want {
			t.Errorf("AllowName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	p := mustPolicy(t,
		"example.com:443", "*.example.org", "1.2.3.4", "5.6.7.8:80", "192.168.1.0/24:5432",
		"host.containers.internal:8080", "169.254.169.254:80", "[2001:db8::1]:443")
	// Learned: public addresses for allowed names; not private ones, nor
	// any for names not allowed.
	if refused := p.Learn("Example.com.", addrs("93.184.216.34", "10.1.2.3", "127.0.0.1", "::ffff:192.168.1.1", "2606:2800::1", "10.0.2.50")); len(refused) != 4 {
		t.Errorf("Learn refused %v, want the 4 private addresses", refused)
	}
	p.Learn("cdn.example.org", addrs("198.51.100.7"))
	p.Learn("evil.test", addrs("203.0.113.9"))
	p.Learn("a.example.org", addrs("93.184.216.34"))

	type want struct {
		ok      bool
		reason  string
		name    string
		literal bool
	}
	for _, c := range []struct {
		dst  string
		port uint16
		want want
	}{
		{"93.184.216.34", 443, want{ok: true, name: "example.com"}},
		{"93.184.216.34", 80, want{ok: true, name: "a.example.org"}}, // *.example.org has no port
		{"2606:2800::1", 443, want{ok: true, name: "example.com"}},
		{"::ffff:93.184.216.34", 443, want{ok: true, name: "example.com"}},
		{"198.51.100.7", 22, want{ok: true, name: "cdn.example.org"}},
		{"203.0.113.9", 443, want{reason: ReasonNotAllowed}},
		{"203.0.113.10", 443, want{reason: ReasonNotAllowed}},
		{"1.2.3.4", 1, want{ok: true, literal: true}},
		{"5.6.7.8", 80, want{ok: true, literal: true}},
		{"5.6.7.8", 81, want{reason: ReasonNotAllowed}},
		{"10.1.2.3", 443, want{reason: ReasonPrivate}},
		{"127.0.0.1", 443, want{reason: ReasonPrivate}},
		{"172.16.0.1", 443, want{reason: ReasonPrivate}},
		{"100.64.0.1", 443, want{reason: ReasonPrivate}},
		{"169.254.169.254", 80, want{ok: true, literal: true}},
		{"169.254.169.254", 81, want{reason: ReasonPrivate}},
		{"169.254.1.1", 80, want{reason: ReasonPrivate}},
		{"0.0.0.0", 80, want{reason: ReasonPrivate}},
		{"224.0.0.1", 80, want{reason: ReasonPrivate}},
		{"255.255.255.255", 80, want{reason: ReasonPrivate}},
		{"fe80::1", 80, want{reason: ReasonPrivate}},
		{"fd12::1", 80, want{reason: ReasonPrivate}},
		{"::1", 80, want{reason: ReasonPrivate}},
		{"2001:db8::1", 443, want{ok: true, literal: true}},
		{"192.168.1.9", 5432, want{ok: true, literal: true}},
		{"192.168.1.9", 5433, want{reason: ReasonPrivate}},
		{"10.0.2.2", 8080, want{ok: true, literal: true}},
		{"10.0.2.2", 8081, want{reason: ReasonPrivate}},
		{"10.0.2.100", 80, want{reason: ReasonPrivate}},
		{"10.0.2.3", 80, want{reason: ReasonPrivate}},
	} {
		v := p.Check(netip.MustParseAddr(c.dst), c.port)
		got := want{v.Allowed, v.Reason, v.Name, v.Literal}
		if got != c.want || v.Learned != (c.want.ok && !c.want.literal) {
			t.Errorf("Check(%s, %d) = %+v, want %+v", c.dst, c.port, v, c.want)
		}
	}
	if v := p.Check(netip.MustParseAddr("10.0.2.3"), 53); !v.Allowed || !v.DNS {
		t.Errorf("Check(DNS address) = %+v, want allowed as DNS", v)
	}
	if v := p.Check(netip.MustParseAddr("10.0.2.2"), 8080); !v.HostLoopback {
		t.Errorf("Check(gateway) = %+v, want HostLoopback", v)
	}
	// Learned for an allowed name, but not on this port.
	q := mustPolicy(t, "api.test:443")
	q.Learn("api.test", addrs("203.0.113.1"))
	if v := q.Check(netip.MustParseAddr("203.0.113.1"), 80); v.Allowed || v.Reason != ReasonPort || v.Name != "api.test" {
		t.Errorf("Check(learned, other port) = %+v", v)
	}
	// A CIDR covering the gateway does not open the host's loopback, but
	// the gateway's own address does.
	r := mustPolicy(t, "10.0.0.0/8", "10.0.2.2:22")
	if v := r.Check(netip.MustParseAddr("10.0.2.2"), 80); v.Allowed {
		t.Errorf("Check(gateway:80) with 10.0.0.0/8 = %+v, want refused", v)
	}
	if v := r.Check(netip.MustParseAddr("10.0.2.2"), 22); !v.Allowed || !v.HostLoopback {
		t.Errorf("Check(gateway:22) with 10.0.2.2:22 = %+v, want allowed", v)
	}
	// No entries: nothing but DNS.
	none := mustPolicy(t)
	if v := none.Check(netip.MustParseAddr("93.184.216.34"), 443); v.Allowed {
		t.Errorf("empty allow-list: %+v", v)
	}
}

func TestPolicyCheckName(t *testing.T) {
	p := mustPolicy(t, "a.test", "b.test:443", "*.c.test")
	p.Learn("a.test", addrs("203.0.113.1"))
	p.Learn("b.test", addrs("203.0.113.1"))
	p.Learn("x.c.test", addrs("203.0.113.2"))
	dst := netip.MustParseAddr("203.0.113.1")
	for _, c := range []struct {
		port uint16
		name string
		ok   bool
	}{
		{443, "a.test", true},
		{443, "A.TEST.", true},
		{443, "b.test", true},
		{80, "b.test", false}, // b.test is allowed on 443 only
		{443, "x.c.test", false},
		{443, "other.test", false},
		{443, "203.0.113.1", true},
		{443, "[203.0.113.1]", true},
		{443, "203.0.113.2", false},
	} {
		if got := p.CheckName(dst, c.port, c.name); got != c.ok {
			t.Errorf("CheckName(%s, %d, %q) = %v, want %v", dst, c.port, c.name, got, c.ok)
		}
	}
}

func TestOpensHostLoopback(t *testing.T) {
	cfg := DefaultConfig()
	for entries, want := range map[string]bool{
		"example.com":                   false,
		"10.0.0.0/8":                    false,
		"host.containers.internal:3000": true,
		"10.0.2.2":                      true,
	} {
		e := &Egress{Allow: []string{entries}}
		if got := e.OpensHostLoopback(cfg); got != want {
			t.Errorf("%s: OpensHostLoopback = %v, want %v", entries, got, want)
		}
		m := Mode{Kind: KindSlirp, Config: cfg}
		m.Config.Egress = e
		if a, _ := m.Addrs(); (a.Host == cfg.Gateway()) != want {
			t.Errorf("%s: host.containers.internal is %v", entries, a.Host)
		}
	}
}
