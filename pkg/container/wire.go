package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/network"
	"golang.org/x/sys/unix"
)

// The container's spec is not written as JSON: encoding or decoding it with
// encoding/json costs a fresh process milliseconds of reflection on the
// critical path of every start. The parent writes instead the parts of the
// spec the in-container stage reads, and the compiled seccomp filter, in
// this flat binary form (varint lengths and numbers, in a fixed order),
// which encodes and decodes in microseconds. Other programs read it
// through List.
//
// Fields that are not carried here are not seen by the container's init: a
// field the init starts to use must be added to both functions (the round
// trip test covers every field carried).

const wireVersion = 3

// initSpecFile is the name of the encoded spec in the state directory.
const initSpecFile = "init.spec"

// initSpec is what the container's init reads: the parts of the spec it
// uses, and the seccomp filter the parent compiled from the spec's
// profile.
type initSpec struct {
	spec    *specs.Spec
	seccomp []unix.SockFilter
	// barrier: wait for Start before starting the command (see Create).
	barrier bool
	// tap: make this tap device and send it to the parent, for its
	// network driver (network.Driver.Tap); nil for none.
	tap *network.Config
	// waitNet: wait until the parent says the network is connected
	// (a driver that joins the namespace from outside).
	waitNet bool
}

func encodeInitSpec(is initSpec) []byte {
	s := is.spec
	var w wireWriter
	w.uint(wireVersion)
	w.str(s.Version)
	w.str(s.Hostname)
	w.bool(s.Root != nil)
	if s.Root != nil {
		w.str(s.Root.Path)
		w.bool(s.Root.Readonly)
	}
	w.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		w.str(m.Destination)
		w.str(m.Type)
		w.str(m.Source)
		w.strs(m.Options)
	}
	w.bool(s.Process != nil)
	if p := s.Process; p != nil {
		w.bool(p.Terminal)
		w.bool(p.ConsoleSize != nil)
		if p.ConsoleSize != nil {
			w.uint(uint64(p.ConsoleSize.Height))
			w.uint(uint64(p.ConsoleSize.Width))
		}
		w.uint(uint64(p.User.UID))
		w.uint(uint64(p.User.GID))
		w.uints(p.User.AdditionalGids)
		w.strs(p.Args)
		w.strs(p.Env)
		w.str(p.Cwd)
		w.bool(p.NoNewPrivileges)
		w.bool(p.Capabilities != nil)
		if c := p.Capabilities; c != nil {
			for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
				w.strs(set)
			}
		}
		w.uint(uint64(len(p.Rlimits)))
		for _, r := range p.Rlimits {
			w.str(r.Type)
			w.uint(r.Hard)
			w.uint(r.Soft)
		}
		w.optUint(p.User.Umask != nil, uint64(deref(p.User.Umask)))
		w.bool(p.OOMScoreAdj != nil)
		if p.OOMScoreAdj != nil {
			w.int(int64(*p.OOMScoreAdj))
		}
	}
	w.bool(s.Linux != nil)
	if l := s.Linux; l != nil {
		for _, ms := range [][]specs.LinuxIDMapping{l.UIDMappings, l.GIDMappings} {
			w.uint(uint64(len(ms)))
			for _, m := range ms {
				w.uint(uint64(m.ContainerID))
				w.uint(uint64(m.HostID))
				w.uint(uint64(m.Size))
			}
		}
		w.uint(uint64(len(l.Namespaces)))
		for _, ns := range l.Namespaces {
			w.str(string(ns.Type))
			w.str(ns.Path)
		}
		w.uint(uint64(len(l.Devices)))
		for _, d := range l.Devices {
			w.str(d.Path)
			w.str(d.Type)
			w.int(d.Major)
			w.int(d.Minor)
			w.optUint(d.FileMode != nil, uint64(derefMode(d.FileMode)))
			w.optUint(d.UID != nil, uint64(deref(d.UID)))
			w.optUint(d.GID != nil, uint64(deref(d.GID)))
		}
		w.strs(l.MaskedPaths)
		w.strs(l.ReadonlyPaths)
		w.strMap(l.Sysctl)
	}
	w.strMap(s.Annotations)
	w.bool(is.barrier)
	w.bool(is.waitNet)
	if is.tap != nil {
		w.str(is.tap.TapString())
	} else {
		w.str("")
	}
	w.uint(uint64(len(is.seccomp)))
	for _, f := range is.seccomp {
		w.uint(uint64(f.Code))
		w.uint(uint64(f.Jt))
		w.uint(uint64(f.Jf))
		w.uint(uint64(f.K))
	}
	return w.buf
}

func decodeInitSpec(b []byte) (initSpec, error) {
	r := wireReader{buf: b}
	if v := r.uint(); v != wireVersion {
		return initSpec{}, fmt.Errorf("init spec: version %d, want %d", v, wireVersion)
	}
	s := &specs.Spec{Version: r.str(), Hostname: r.str()}
	if r.bool() {
		s.Root = &specs.Root{Path: r.str(), Readonly: r.bool()}
	}
	for n := r.count(); n > 0; n-- {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: r.str(), Type: r.str(), Source: r.str(), Options: r.strs()})
	}
	if r.bool() {
		p := &specs.Process{Terminal: r.bool()}
		if r.bool() {
			p.ConsoleSize = &specs.Box{Height: uint(r.uint()), Width: uint(r.uint())}
		}
		p.User = specs.User{UID: r.uint32(), GID: r.uint32(), AdditionalGids: r.uints()}
		p.Args, p.Env, p.Cwd, p.NoNewPrivileges = r.strs(), r.strs(), r.str(), r.bool()
		if r.bool() {
			p.Capabilities = &specs.LinuxCapabilities{Bounding: r.strs(), Effective: r.strs(), Inheritable: r.strs(), Permitted: r.strs(), Ambient: r.strs()}
		}
		for n := r.count(); n > 0; n-- {
			p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{Type: r.str(), Hard: r.uint(), Soft: r.uint()})
		}
		if ok, v := r.optUint(); ok {
			u := uint32(v)
			p.User.Umask = &u
		}
		if r.bool() {
			adj := int(r.int())
			p.OOMScoreAdj = &adj
		}
		s.Process = p
	}
	if r.bool() {
		l := &specs.Linux{}
		for _, ms := range []*[]specs.LinuxIDMapping{&l.UIDMappings, &l.GIDMappings} {
			for n := r.count(); n > 0; n-- {
				*ms = append(*ms, specs.LinuxIDMapping{ContainerID: r.uint32(), HostID: r.uint32(), Size: r.uint32()})
			}
		}
		for n := r.count(); n > 0; n-- {
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(r.str()), Path: r.str()})
		}
		for n := r.count(); n > 0; n-- {
			d := specs.LinuxDevice{Path: r.str(), Type: r.str(), Major: r.int(), Minor: r.int()}
			if ok, v := r.optUint(); ok {
				m := os.FileMode(v)
				d.FileMode = &m
			}
			if ok, v := r.optUint(); ok {
				u := uint32(v)
				d.UID = &u
			}
			if ok, v := r.optUint(); ok {
				g := uint32(v)
				d.GID = &g
			}
			l.Devices = append(l.Devices, d)
		}
		l.MaskedPaths, l.ReadonlyPaths, l.Sysctl = r.strs(), r.strs(), r.strMap()
		s.Linux = l
	}
	s.Annotations = r.strMap()
	is := initSpec{spec: s, barrier: r.bool(), waitNet: r.bool()}
	if v := r.str(); v != "" && r.err == nil {
		cfg, err := network.ParseTap(v)
		if err != nil {
			return initSpec{}, fmt.Errorf("init spec: %w", err)
		}
		is.tap = &cfg
	}
	if n := r.count(); n > 0 {
		is.seccomp = make([]unix.SockFilter, 0, n)
		for ; n > 0; n-- {
			f := unix.SockFilter{Code: uint16(r.uint()), Jt: uint8(r.uint()), Jf: uint8(r.uint()), K: r.uint32()}
			is.seccomp = append(is.seccomp, f)
		}
	}
	if r.err == nil && len(r.buf) != 0 {
		r.err = errors.New("trailing data")
	}
	if r.err != nil {
		return initSpec{}, fmt.Errorf("init spec: %w", r.err)
	}
	return is, nil
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

func derefMode(p *os.FileMode) os.FileMode {
	if p == nil {
		return 0
	}
	return *p
}

type wireWriter struct{ buf []byte }

func (w *wireWriter) uint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *wireWriter) int(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }

func (w *wireWriter) bool(v bool) {
	if v {
		w.uint(1)
	} else {
		w.uint(0)
	}
}

func (w *wireWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *wireWriter) strs(ss []string) {
	w.bool(ss != nil)
	w.uint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

func (w *wireWriter) uints(vs []uint32) {
	w.bool(vs != nil)
	w.uint(uint64(len(vs)))
	for _, v := range vs {
		w.uint(uint64(v))
	}
}

func (w *wireWriter) optUint(ok bool, v uint64) {
	w.bool(ok)
	if ok {
		w.uint(v)
	}
}

func (w *wireWriter) strMap(m map[string]string) {
	w.bool(m != nil)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.uint(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(m[k])
	}
}

// wireReader reads what wireWriter wrote; after the first error every read
// returns a zero value and err keeps that error.
type wireReader struct {
	buf []byte
	err error
}

func (r *wireReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.buf = nil
}

func (r *wireReader) uint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail(errors.New("truncated or bad number"))
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *wireReader) int() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail(errors.New("truncated or bad number"))
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *wireReader) uint32() uint32 {
	v := r.uint()
	if v > math.MaxUint32 {
		r.fail(errors.New("number out of range"))
		return 0
	}
	return uint32(v)
}

func (r *wireReader) bool() bool { return r.uint() == 1 }

// count reads a length, bounded by what is left to read (every element
// takes at least one byte), so that bad input cannot ask for huge memory.
func (r *wireReader) count() int {
	v := r.uint()
	if v > uint64(len(r.buf)) {
		r.fail(errors.New("length past the end"))
		return 0
	}
	return int(v)
}

func (r *wireReader) str() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

func (r *wireReader) strs() []string  { return readSlice(r, r.str) }
func (r *wireReader) uints() []uint32 { return readSlice(r, r.uint32) }

// readSlice reads what wireWriter's strs or uints wrote: nil-ness, length,
// elements.
func readSlice[T any](r *wireReader, read func() T) []T {
	isNil := !r.bool()
	n := r.count()
	if isNil || r.err != nil {
		return nil
	}
	out := make([]T, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, read())
	}
	return out
}

func (r *wireReader) optUint() (bool, uint64) {
	if !r.bool() {
		return false, 0
	}
	return true, r.uint()
}

func (r *wireReader) strMap() map[string]string {
	isNil := !r.bool()
	n := r.count()
	if isNil || r.err != nil {
		return nil
	}
	m := make(map[string]string, n)
	for ; n > 0 && r.err == nil; n-- {
		k := r.str()
		m[k] = r.str()
	}
	return m
}
