package spec

import (
	"reflect"
	"slices"
	"testing"
)

func TestCapabilitiesFlags(t *testing.T) {
	def := slices.Sorted(slices.Values(DefaultCapabilities))
	without := func(c string) []string {
		return slices.DeleteFunc(slices.Clone(def), func(x string) bool { return x == c })
	}
	cases := []struct {
		add, drop  []string
		privileged bool
		want       []string
	}{
		{nil, nil, false, def},
		{nil, []string{"fowner"}, false, without("CAP_FOWNER")},
		{nil, []string{"CAP_FOWNER", "cap_kill"}, false, slices.DeleteFunc(without("CAP_FOWNER"), func(x string) bool { return x == "CAP_KILL" })},
		{nil, []string{"ALL"}, false, []string{}},
		{[]string{"chown"}, []string{"all"}, false, []string{"CAP_CHOWN"}},
		{[]string{"ALL"}, nil, false, slices.Sorted(slices.Values(AllCapabilities()))},
		{nil, nil, true, slices.Sorted(slices.Values(AllCapabilities()))},
		{[]string{"net_raw"}, nil, false, slices.Sorted(slices.Values(append(slices.Clone(def), "CAP_NET_RAW")))},
	}
	for _, c := range cases {
		got, err := Capabilities(c.add, c.drop, c.privileged)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Capabilities(%v, %v, %v) = %v, %v; want %v", c.add, c.drop, c.privileged, got, err, c.want)
		}
	}
	if _, err := Capabilities([]string{"bogus"}, nil, false); err == nil {
		t.Error("unknown capability accepted")
	}
}

func TestMaskedAndReadonly(t *testing.T) {
	m, r := MaskedAndReadonly(nil, nil, false)
	if !reflect.DeepEqual(m, DefaultMaskedPaths) || !reflect.DeepEqual(r, DefaultReadonlyPaths) {
		t.Errorf("defaults: %v %v", m, r)
	}
	m, r = MaskedAndReadonly(nil, []string{"ALL"}, false)
	if m == nil || r == nil || len(m)+len(r) != 0 {
		t.Errorf("unmask=ALL: %#v %#v, want empty non-nil", m, r)
	}
	m, r = MaskedAndReadonly([]string{"/x"}, nil, true)
	if !reflect.DeepEqual(m, []string{"/x"}) || len(r) != 0 {
		t.Errorf("privileged with mask=/x: %v %v", m, r)
	}
	m, _ = MaskedAndReadonly(nil, []string{"/proc/keys"}, false)
	if slices.Contains(m, "/proc/keys") || !slices.Contains(m, "/proc/kcore") {
		t.Errorf("unmask=/proc/keys: %v", m)
	}
}

func TestParseUlimit(t *testing.T) {
	good := map[string][3]any{
		"nofile=1024:2048": {"RLIMIT_NOFILE", uint64(1024), uint64(2048)},
		"NPROC=64":         {"RLIMIT_NPROC", uint64(64), uint64(64)},
		"core=-1":          {"RLIMIT_CORE", uint64(Unlimited), uint64(Unlimited)},
		"memlock=1:-1":     {"RLIMIT_MEMLOCK", uint64(1), uint64(Unlimited)},
	}
	for in, want := range good {
		r, err := ParseUlimit(in)
		if err != nil || r.Type != want[0] || r.Soft != want[1] || r.Hard != want[2] {
			t.Errorf("ParseUlimit(%q) = %+v, %v; want %v", in, r, err, want)
		}
	}
	for _, bad := range []string{"nofile", "=1", "bogus=1", "nofile=2:1", "nofile=x", "nofile=1:y", "nofile=-1:5"} {
		if _, err := ParseUlimit(bad); err == nil {
			t.Errorf("ParseUlimit(%q): no error", bad)
		}
	}
	if _, ok := PidsRlimit(0); ok {
		t.Error("PidsRlimit(0) limits")
	}
	if r, ok := PidsRlimit(64); !ok || r.Soft != 64 || r.Hard != 64 || r.Type != "RLIMIT_NPROC" {
		t.Errorf("PidsRlimit(64) = %+v", r)
	}
}
