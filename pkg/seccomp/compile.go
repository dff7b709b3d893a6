// Package seccomp compiles an OCI seccomp configuration (runtime-spec's
// LinuxSeccomp, as Docker and podman profiles become) into a classic BPF
// program for the running architecture, without libseccomp or cgo, and
// installs it on the calling thread.
//
// The program checks the architecture (another one, or the x32 ABI on
// x86-64, is killed, as libseccomp's default does), then the syscall
// number against each rule in turn: rules with argument conditions before
// those without, so that a conditional rule can take precedence over a
// plain one for the same call; the first rule that matches decides. Calls
// no rule names get the default action.
package seccomp

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter.
const (
	retKillThread  = 0x00000000
	retKillProcess = 0x80000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Compile returns the BPF program enforcing s on this architecture.
// Syscall names this architecture does not have are skipped (as podman
// does), with a debug log line.
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	info, err := arch.GetInfo(runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp default action: %w", err)
	}
	var p program
	p.add(bpf.LoadAbsolute{Off: offArch, Size: 4})
	p.jump(bpf.JumpEqual, uint32(info.ID), "nativearch", "")
	p.add(bpf.RetConstant{Val: retKillProcess})
	p.label("nativearch")
	p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
	if runtime.GOARCH == "amd64" {
		// x32 calls carry the x86-64 audit arch and this bit in the number.
		p.jump(bpf.JumpGreaterOrEqual, 0x40000000, "", "native64")
		p.add(bpf.RetConstant{Val: retKillProcess})
		p.label("native64")
	}
	ordered := make([]specs.LinuxSyscall, 0, len(s.Syscalls))
	for _, withArgs := range []bool{true, false} {
		for _, sc := range s.Syscalls {
			if (len(sc.Args) > 0) == withArgs {
				ordered = append(ordered, sc)
			}
		}
	}
	for _, sc := range ordered {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp rule for %v: %w", sc.Names, err)
		}
		for _, name := range sc.Names {
			nr, ok := info.SyscallNames[name]
			if !ok {
				slog.Debug("seccomp: unknown syscall skipped", "name", name, "arch", info.Name)
				continue
			}
			if err := p.rule(uint32(nr), sc.Args, ret); err != nil {
				return nil, fmt.Errorf("seccomp rule for %s: %w", name, err)
			}
		}
	}
	p.add(bpf.RetConstant{Val: def})
	return p.assemble()
}

// action returns the filter return value of an OCI action.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	data := func(def uint) uint32 {
		if errno != nil {
			def = *errno
		}
		return uint32(def) & 0xffff
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | data(uint(unix.EPERM)), nil
	case specs.ActTrace:
		return retTrace | data(uint(unix.ENOSYS)), nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActAllow:
		return retAllow, nil
	}
	return 0, fmt.Errorf("action %q is not supported", a)
}

// rule appends: if the call is nr and every condition holds, return ret.
func (p *program) rule(nr uint32, args []specs.LinuxSeccompArg, ret uint32) error {
	next := p.newLabel()
	p.jump(bpf.JumpEqual, nr, "", next)
	for _, a := range args {
		if err := p.condition(a, next); err != nil {
			return err
		}
	}
	p.add(bpf.RetConstant{Val: ret})
	p.label(next)
	if len(args) > 0 {
		// The conditions loaded arguments: load the number again.
		p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
	}
	return nil
}

// condition appends a test of one argument that jumps to fail when it
// does not hold; the 64-bit argument is compared as its high and low
// halves (little endian).
func (p *program) condition(a specs.LinuxSeccompArg, fail string) error {
	if a.Index > 5 {
		return fmt.Errorf("argument index %d out of range", a.Index)
	}
	lo := uint32(offArgs + 8*a.Index)
	hi := lo + 4
	vhi, vlo := uint32(a.Value>>32), uint32(a.Value)
	ok := p.newLabel()
	switch a.Op {
	case specs.OpEqualTo, specs.OpNotEqual:
		pass, miss := "", fail // EQ: mismatch fails
		if a.Op == specs.OpNotEqual {
			pass, miss = fail, ok // NE: a full match fails
		}
		p.add(bpf.LoadAbsolute{Off: hi, Size: 4})
		p.jump(bpf.JumpEqual, vhi, "", miss)
		p.add(bpf.LoadAbsolute{Off: lo, Size: 4})
		p.jump(bpf.JumpEqual, vlo, pass, miss)
	case specs.OpMaskedEqual:
		mhi, mlo := uint32(a.Value>>32), uint32(a.Value)
		whi, wlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		p.add(bpf.LoadAbsolute{Off: hi, Size: 4})
		p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mhi})
		p.jump(bpf.JumpEqual, whi, "", fail)
		p.add(bpf.LoadAbsolute{Off: lo, Size: 4})
		p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mlo})
		p.jump(bpf.JumpEqual, wlo, "", fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
		// Decided by the high halves unless they are equal.
		higher, lower := ok, fail
		if a.Op == specs.OpLessThan || a.Op == specs.OpLessEqual {
			higher, lower = fail, ok
		}
		p.add(bpf.LoadAbsolute{Off: hi, Size: 4})
		p.jump(bpf.JumpGreaterThan, vhi, higher, "")
		p.jump(bpf.JumpEqual, vhi, "", lower)
		p.add(bpf.LoadAbsolute{Off: lo, Size: 4})
		switch a.Op {
		case specs.OpGreaterThan:
			p.jump(bpf.JumpGreaterThan, vlo, ok, fail)
		case specs.OpGreaterEqual:
			p.jump(bpf.JumpGreaterOrEqual, vlo, ok, fail)
		case specs.OpLessThan:
			p.jump(bpf.JumpGreaterOrEqual, vlo, fail, ok)
		case specs.OpLessEqual:
			p.jump(bpf.JumpGreaterThan, vlo, fail, ok)
		}
	default:
		return fmt.Errorf("operator %q is not supported", a.Op)
	}
	p.label(ok)
	return nil
}
