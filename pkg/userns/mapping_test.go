package userns

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func idm(container, host, size uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: container, HostID: host, Size: size}
}

func TestHostMapping(t *testing.T) {
	const (
		uidmap = "/usr/bin/newuidmap"
		gidmap = "/usr/bin/newgidmap"
	)
	single := Mapping{
		UIDs: []specs.LinuxIDMapping{idm(0, 1000, 1)},
		GIDs: []specs.LinuxIDMapping{idm(0, 1001, 1)},
	}
	tests := []struct {
		name string
		host Host
		want Mapping
		// reasonHas lists substrings of the fallback reason; nil means
		// no fallback (an empty reason).
		reasonHas []string
	}{
		{
			name: "one range each",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{200000, 65536}},
				NewUIDMap: uidmap, NewGIDMap: gidmap},
			want: Mapping{
				UIDs:    []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)},
				GIDs:    []specs.LinuxIDMapping{idm(0, 1001, 1), idm(1, 200000, 65536)},
				Helpers: true,
			},
		},
		{
			name: "several ranges laid out back to back",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubUIDs:   []Range{{100000, 65536}, {300000, 1000}, {500000, 1}},
				SubGIDs:   []Range{{200000, 10}, {400000, 20}},
				NewUIDMap: uidmap, NewGIDMap: gidmap},
			want: Mapping{
				UIDs: []specs.LinuxIDMapping{
					idm(0, 1000, 1), idm(1, 100000, 65536), idm(65537, 300000, 1000), idm(66537, 500000, 1),
				},
				GIDs: []specs.LinuxIDMapping{
					idm(0, 1001, 1), idm(1, 200000, 10), idm(11, 400000, 20),
				},
				Helpers: true,
			},
		},
		{
			name: "no subuid range",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubGIDs:   []Range{{200000, 65536}},
				NewUIDMap: uidmap, NewGIDMap: gidmap},
			want:      single,
			reasonHas: []string{"alice", SubUIDFile, SubGIDFile},
		},
		{
			name: "no subgid range",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubUIDs:   []Range{{100000, 65536}},
				NewUIDMap: uidmap, NewGIDMap: gidmap},
			want:      single,
			reasonHas: []string{"alice", SubUIDFile, SubGIDFile},
		},
		{
			name: "empty range lists, no user name: the uid is named",
			host: Host{UID: 1000, GID: 1001, SubUIDs: []Range{}, SubGIDs: []Range{},
				NewUIDMap: uidmap, NewGIDMap: gidmap},
			want:      single,
			reasonHas: []string{"1000"},
		},
		{
			name: "newuidmap missing",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{200000, 65536}},
				NewGIDMap: gidmap},
			want:      single,
			reasonHas: []string{"uidmap"},
		},
		{
			name: "newgidmap missing",
			host: Host{User: "alice", UID: 1000, GID: 1001,
				SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{200000, 65536}},
				NewUIDMap: uidmap},
			want:      single,
			reasonHas: []string{"uidmap"},
		},
		{
			name:      "no range and no helper: the range is the reason",
			host:      Host{User: "alice", UID: 1000, GID: 1001},
			want:      single,
			reasonHas: []string{"alice", SubUIDFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.host.Mapping()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Mapping() = %+v, want %+v", got, tt.want)
			}
			if got.Single() != !tt.want.Helpers {
				t.Errorf("Single() = %v with Helpers %v", got.Single(), got.Helpers)
			}
			if tt.reasonHas == nil {
				if reason != "" {
					t.Errorf("fallback reason = %q, want none", reason)
				}
				return
			}
			if reason == "" {
				t.Fatalf("fallback reason is empty, want one")
			}
			for _, s := range tt.reasonHas {
				if !strings.Contains(reason, s) {
					t.Errorf("fallback reason %q does not mention %q", reason, s)
				}
			}
		})
	}
}

func TestHostID(t *testing.T) {
	podman := []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536), idm(65537, 300000, 1000)}
	tests := []struct {
		name   string
		ms     []specs.LinuxIDMapping
		id     uint32
		want   uint32
		wantOK bool
	}{
		{"root is the caller", podman, 0, 1000, true},
		{"first id of first range", podman, 1, 100000, true},
		{"inside first range", podman, 5, 100004, true},
		{"last id of first range", podman, 65536, 165535, true},
		{"first id of second range", podman, 65537, 300000, true},
		{"last id of second range", podman, 66536, 300999, true},
		{"first id past the last range", podman, 66537, 0, false},
		{"far past", podman, 1 << 31, 0, false},
		{"max uint32", podman, 1<<32 - 1, 0, false},
		{"single mapping root", []specs.LinuxIDMapping{idm(0, 1000, 1)}, 0, 1000, true},
		{"single mapping past it", []specs.LinuxIDMapping{idm(0, 1000, 1)}, 1, 0, false},
		{"tty group unmapped in single mapping", []specs.LinuxIDMapping{idm(0, 1000, 1)}, 5, 0, false},
		{"no mappings", nil, 0, 0, false},
		{"empty range maps nothing", []specs.LinuxIDMapping{idm(0, 1000, 0)}, 0, 0, false},
		{"below a range that does not start at 0", []specs.LinuxIDMapping{idm(10, 500, 5)}, 9, 0, false},
		{"start of a range that does not start at 0", []specs.LinuxIDMapping{idm(10, 500, 5)}, 10, 500, true},
		{"end of a range that does not start at 0", []specs.LinuxIDMapping{idm(10, 500, 5)}, 14, 504, true},
		{"past a range that does not start at 0", []specs.LinuxIDMapping{idm(10, 500, 5)}, 15, 0, false},
		{"gap between ranges", []specs.LinuxIDMapping{idm(0, 500, 5), idm(10, 900, 5)}, 7, 0, false},
		{"second of two ranges with a gap", []specs.LinuxIDMapping{idm(0, 500, 5), idm(10, 900, 5)}, 12, 902, true},
		{"range reaching the top of the id space", []specs.LinuxIDMapping{idm(1<<32-10, 0, 10)}, 1<<32 - 1, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := HostID(tt.ms, tt.id)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("HostID(%v, %d) = %d, %v; want %d, %v", tt.ms, tt.id, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		ms   []specs.LinuxIDMapping
		sep  string
		want string
	}{
		{"none", nil, "\n", ""},
		{"single, uid_map form", []specs.LinuxIDMapping{idm(0, 1000, 1)}, "\n", "0 1000 1"},
		{
			"podman layout, uid_map form",
			[]specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536), idm(65537, 300000, 1000)},
			"\n",
			"0 1000 1\n1 100000 65536\n65537 300000 1000",
		},
		{
			"podman layout, helper argument form",
			[]specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)},
			" ",
			"0 1000 1 1 100000 65536",
		},
		{"largest values", []specs.LinuxIDMapping{idm(1<<32-1, 1<<32-1, 1<<32-1)}, "\n", "4294967295 4294967295 4294967295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := format(tt.ms, tt.sep); got != tt.want {
				t.Errorf("format(%v, %q) = %q, want %q", tt.ms, tt.sep, got, tt.want)
			}
		})
	}
}

// The podman layout of Host.Mapping translates every id the way the ranges
// say: id 0 to the caller, then each subordinate range in turn.
func TestMappingHostIDRoundTrip(t *testing.T) {
	h := Host{User: "alice", UID: 1000, GID: 1001,
		SubUIDs: []Range{{100000, 3}, {300000, 2}}, SubGIDs: []Range{{200000, 1}},
		NewUIDMap: "/x/newuidmap", NewGIDMap: "/x/newgidmap"}
	m, reason := h.Mapping()
	if reason != "" {
		t.Fatalf("unexpected fallback: %s", reason)
	}
	wantUIDs := map[uint32]uint32{0: 1000, 1: 100000, 2: 100001, 3: 100002, 4: 300000, 5: 300001}
	for c := uint32(0); c < 8; c++ {
		hid, ok := HostID(m.UIDs, c)
		want, wantOK := wantUIDs[c]
		if hid != want || ok != wantOK {
			t.Errorf("uid %d → %d, %v; want %d, %v", c, hid, ok, want, wantOK)
		}
	}
	wantGIDs := map[uint32]uint32{0: 1001, 1: 200000}
	for c := uint32(0); c < 4; c++ {
		hid, ok := HostID(m.GIDs, c)
		want, wantOK := wantGIDs[c]
		if hid != want || ok != wantOK {
			t.Errorf("gid %d → %d, %v; want %d, %v", c, hid, ok, want, wantOK)
		}
	}
}
