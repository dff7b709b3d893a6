package container

import (
	"bytes"
	"math/rand"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// fullSpec is a spec with every field the wire form carries set.
func fullSpec(t testing.TB) *specs.Spec {
	h := &userns.Host{UID: 1000, GID: 1000, SubUIDs: []userns.Range{{Start: 100000, Count: 65536}}, SubGIDs: []userns.Range{{Start: 100000, Count: 65536}}, NewUIDMap: "/x", NewGIDMap: "/y"}
	m, _ := h.Mapping()
	s, err := spec.New(spec.Options{
		Rootfs: "/r", ReadOnly: true, Args: []string{"sh", "-c", "echo ünïcode"}, Env: []string{"A=1", "EMPTY="},
		Cwd: "/w", User: specs.User{UID: 1, GID: 2, AdditionalGids: []uint32{3, 4}}, Hostname: "h",
		Terminal: true, Init: true, Mapping: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	uid, gid, mode := uint32(5), uint32(6), os.FileMode(0o620)
	s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/x", Type: "b", Major: -1, Minor: 1 << 40, FileMode: &mode, UID: &uid, GID: &gid})
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"})
	s.Linux.MaskedPaths = []string{"/proc/kcore"}
	s.Linux.ReadonlyPaths = []string{}
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "a": ""}
	s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	s.Process.NoNewPrivileges = true
	umask, adj := uint32(0o027), -17
	s.Process.User.Umask, s.Process.OOMScoreAdj = &umask, &adj
	s.Process.Capabilities.Ambient = []string{}
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 20, Soft: 1024}}
	s.Annotations["k"] = "v"
	s.Linux.Seccomp = nil // not carried: the init gets the compiled filter
	return s
}

// fullInitSpec is fullSpec with a seccomp program.
func fullInitSpec(t testing.TB) initSpec {
	tap := network.DefaultConfig()
	tap.MTU = 1500
	return initSpec{spec: fullSpec(t), seccomp: []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 255, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}},
		barrier: true, waitNet: true, tap: &tap}
}

func TestInitSpecRoundTrip(t *testing.T) {
	for _, is := range []initSpec{fullInitSpec(t), {spec: &specs.Spec{}}, {spec: &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}, Root: &specs.Root{}}}} {
		got, err := decodeInitSpec(encodeInitSpec(is))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, is) {
			t.Errorf("round trip changed the spec:\n got %+v\nwant %+v", got, is)
		}
	}
}

func TestInitSpecRejectsBadInput(t *testing.T) {
	good := encodeInitSpec(fullInitSpec(t))
	for i := 0; i < len(good); i++ {
		if _, err := decodeInitSpec(good[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(good))
		}
	}
	if _, err := decodeInitSpec(append(bytes.Clone(good), 0)); err == nil {
		t.Error("trailing byte: no error")
	}
	if _, err := decodeInitSpec([]byte{9}); err == nil {
		t.Error("wrong version: no error")
	}
}

func FuzzDecodeInitSpec(f *testing.F) {
	f.Add(encodeInitSpec(fullInitSpec(f)))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		is, err := decodeInitSpec(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes, but for maps, whose
		// encoding is sorted.
		if _, err := decodeInitSpec(encodeInitSpec(is)); err != nil {
			t.Fatalf("re-encoded spec does not decode: %v", err)
		}
	})
}

// Corrupted encodings (a few random bytes changed) decode to an error or to
// a spec that encodes again, and never take long: the decoder bounds every
// length by the bytes left.
func TestInitSpecMutations(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	good := encodeInitSpec(fullInitSpec(t))
	for i := 0; i < 20000; i++ {
		b := bytes.Clone(good)
		for k := 0; k < 1+r.Intn(5); k++ {
			b[r.Intn(len(b))] = byte(r.Intn(256))
		}
		if is, err := decodeInitSpec(b); err == nil {
			if _, err := decodeInitSpec(encodeInitSpec(is)); err != nil {
				t.Fatalf("input %x: re-encoded spec does not decode: %v", b, err)
			}
		}
	}
}
