package seccomp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Cache keeps compiled filters in a directory (rless uses its run root),
// keyed by a hash of the configuration and of this binary's syscall
// tables, so that a start with the same profile does not compile it again.
type Cache struct{ Dir string }

// Compile returns the filter for s, from the cache when it has it, else
// compiled and stored (a failure to store is not an error).
func (c Cache) Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	path := filepath.Join(c.Dir, "seccomp-"+Key(s)+".bpf")
	if data, err := os.ReadFile(path); err == nil && len(data)%8 == 0 && len(data) > 0 {
		prog := make([]unix.SockFilter, len(data)/8)
		for i := range prog {
			b := data[8*i:]
			prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
		}
		return prog, nil
	}
	prog, err := Compile(s)
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		data = binary.LittleEndian.AppendUint16(data, f.Code)
		data = append(data, f.Jt, f.Jf)
		data = binary.LittleEndian.AppendUint32(data, f.K)
	}
	if os.MkdirAll(c.Dir, 0o700) == nil {
		_ = atomicfile.Write(path, data, 0o600)
	}
	return prog, nil
}

// compilerVersion changes whenever Compile's output for a given
// configuration would change; it is part of every cache key.
const compilerVersion = 1

// Key returns a hash of everything Compile's output depends on: s, the
// architecture, and the compiler.
func Key(s *specs.LinuxSeccomp) string {
	h := sha256.New()
	w := func(parts ...any) {
		for _, p := range parts {
			fmt.Fprintf(h, "%v\x00", p)
		}
		h.Write([]byte{'\n'})
	}
	w(compilerVersion, len(tableX86_64.calls), len(tableI386.calls), len(tableX32.calls), len(tableAARCH64.calls), len(tableARM.calls))
	w(s.DefaultAction, deref(s.DefaultErrnoRet), s.DefaultErrnoRet != nil, s.Architectures)
	for _, sc := range s.Syscalls {
		w(sc.Action, deref(sc.ErrnoRet), sc.ErrnoRet != nil, len(sc.Names))
		for _, n := range sc.Names {
			h.Write([]byte(n))
			h.Write([]byte{0})
		}
		for _, a := range sc.Args {
			w(a.Index, a.Value, a.ValueTwo, a.Op)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func deref(p *uint) uint {
	if p == nil {
		return 0
	}
	return *p
}
