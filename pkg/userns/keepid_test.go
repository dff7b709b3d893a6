package userns

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestKeepID(t *testing.T) {
	def := []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)}
	two := []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 10), idm(11, 200000, 10)}
	for _, tc := range []struct {
		name string
		def  []specs.LinuxIDMapping
		x    uint32
		want []specs.LinuxIDMapping
	}{
		{"podman", def, 1000, []specs.LinuxIDMapping{idm(1000, 1000, 1), idm(0, 100000, 1000), idm(1001, 101000, 64536)}},
		{"root", def, 0, []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)}},
		{"last", def, 65536, []specs.LinuxIDMapping{idm(65536, 1000, 1), idm(0, 100000, 65536)}},
		{"in second range", two, 15, []specs.LinuxIDMapping{idm(15, 1000, 1), idm(0, 100000, 10), idm(10, 200000, 5), idm(16, 200005, 5)}},
		{"between ranges", two, 10, []specs.LinuxIDMapping{idm(10, 1000, 1), idm(0, 100000, 10), idm(11, 200000, 10)}},
	} {
		got, err := keepID(tc.def, tc.x)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		// Every container id 0..N maps to a distinct host id of def.
		seen := map[uint32]bool{}
		for c := uint32(0); c <= 20 || c <= tc.x; c++ {
			h, ok := HostID(got, c)
			if !ok {
				t.Fatalf("%s: container id %d unmapped", tc.name, c)
			}
			if seen[h] {
				t.Fatalf("%s: host id %d twice", tc.name, h)
			}
			seen[h] = true
			if _, ok := ContainerID(tc.def, h); !ok {
				t.Fatalf("%s: host id %d outside the default layout", tc.name, h)
			}
		}
	}
	if _, err := keepID(def, 65537); err == nil {
		t.Error("keep-id beyond the range accepted")
	}
}

func TestRemap(t *testing.T) {
	def := []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)}
	keep, err := keepID(def, 1000)
	if err != nil {
		t.Fatal(err)
	}
	f := Remap(def, keep)
	// Image root (the user on disk) must become what keep-id shows as 0:
	// host 100000, which is 1 in the default layout.
	for in, want := range map[uint32]uint32{0: 1, 1: 2, 999: 1000, 1000: 0, 1001: 1001, 65535: 65535} {
		got, ok := f(in)
		if !ok || got != want {
			t.Errorf("remap %d = %d, %v; want %d", in, got, ok, want)
		}
		// And keep-id sees the original id.
		h, _ := HostID(def, got)
		if back, _ := ContainerID(keep, h); back != in {
			t.Errorf("remap %d: keep-id sees %d", in, back)
		}
	}
	if _, ok := f(65537); ok {
		t.Error("id beyond keep-id's layout remapped")
	}
}

func TestKeepIDNeedsRange(t *testing.T) {
	h := &Host{UID: 1000, GID: 1000}
	if _, err := h.KeepID(-1, -1); err == nil {
		t.Fatal("keep-id without a range accepted")
	}
	h = &Host{UID: 1000, GID: 1000, SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{100000, 65536}}, NewUIDMap: "/x", NewGIDMap: "/x"}
	m, err := h.KeepID(-1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDs[0] != idm(1000, 1000, 1) || m.GIDs[0] != idm(5, 1000, 1) || !m.Helpers {
		t.Fatalf("mapping %+v", m)
	}
	if m.Key() == (Mapping{}).Key() || len(m.Key()) != 16 {
		t.Fatalf("key %q", m.Key())
	}
}
