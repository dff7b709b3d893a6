// Package seccomp compiles an OCI seccomp configuration (runtime-spec's
// LinuxSeccomp, as Docker and podman profiles become) into a classic BPF
// program for the running architecture, without libseccomp or cgo, and
// installs it on the calling thread.
//
// The program dispatches on the architecture (the native one and those of
// the profile the machine can run, such as i386 and x32 on x86-64; any
// other is killed, as libseccomp does), then checks the syscall number
// against each rule in turn: rules with argument conditions before those
// without, so that a conditional rule can take precedence over a plain one
// for the same call; the first rule that matches decides. Calls no rule
// names get the default action.
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

// compatArches are, for the architecture rless runs on, the profile
// architecture names whose programs it can run, and their syscall tables.
var compatArches = map[string]map[specs.Arch]*arch.Info{
	"amd64": {specs.ArchX86_64: arch.X86_64, specs.ArchX86: arch.I386, specs.ArchX32: arch.X32},
	"arm64": {specs.ArchAARCH64: arch.AARCH64, specs.ArchARM: arch.ARM},
}

// x32Bit marks the syscall numbers of the x32 ABI, which shares x86-64's
// audit architecture.
const x32Bit = 0x40000000

// Compile returns the BPF program enforcing s on this machine: for its
// native architecture and for those of s.Architectures it can run (on
// x86-64: i386 and x32). Calls of any other architecture kill the process.
// Syscall names an architecture does not have are skipped (as podman
// does), with a debug log line.
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	native, err := arch.GetInfo(runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp default action: %w", err)
	}
	var others []*arch.Info // beyond the native one
	var x32 bool
	for _, a := range s.Architectures {
		info, ok := compatArches[runtime.GOARCH][a]
		switch {
		case !ok || info == native:
		case info == arch.X32:
			x32 = true
		default:
			others = append(others, info)
		}
	}
	var p program
	p.add(bpf.LoadAbsolute{Off: offArch, Size: 4})
	for _, info := range append([]*arch.Info{native}, others...) {
		next := p.newLabel()
		p.jump(bpf.JumpEqual, uint32(info.ID), "", next)
		p.goTo("arch-" + info.Name)
		p.label(next)
	}
	p.add(bpf.RetConstant{Val: retKillProcess})

	p.label("arch-" + native.Name)
	p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
	if runtime.GOARCH == "amd64" {
		// x32 calls carry the x86-64 audit arch and a bit in the number.
		p.jump(bpf.JumpGreaterOrEqual, x32Bit, "", "native64")
		if x32 {
			p.goTo("arch-x32")
		} else {
			p.add(bpf.RetConstant{Val: retKillProcess})
		}
		p.label("native64")
	}
	if err := p.rules(s.Syscalls, native, 0, def); err != nil {
		return nil, err
	}
	if x32 {
		p.label("arch-x32")
		if err := p.rules(s.Syscalls, arch.X32, x32Bit, def); err != nil {
			return nil, err
		}
	}
	for _, info := range others {
		p.label("arch-" + info.Name)
		p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
		if err := p.rules(s.Syscalls, info, 0, def); err != nil {
			return nil, err
		}
	}
	return p.assemble()
}

// rules appends the rules of syscalls for one architecture (whose numbers
// are ORed with bit), with the syscall number in A, and the default
// action. Rules with argument conditions come first, so that they can take
// precedence over a plain rule for the same call; the first match decides.
func (p *program) rules(syscalls []specs.LinuxSyscall, info *arch.Info, bit uint32, def uint32) error {
	ordered := make([]specs.LinuxSyscall, 0, len(syscalls))
	for _, withArgs := range []bool{true, false} {
		for _, sc := range syscalls {
			if (len(sc.Args) > 0) == withArgs {
				ordered = append(ordered, sc)
			}
		}
	}
	for _, sc := range ordered {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return fmt.Errorf("seccomp rule for %v: %w", sc.Names, err)
		}
		for _, name := range sc.Names {
			nr, ok := info.SyscallNames[name]
			if !ok {
				slog.Debug("seccomp: unknown syscall skipped", "name", name, "arch", info.Name)
				continue
			}
			if err := p.rule(uint32(nr)|bit, sc.Args, ret); err != nil {
				return fmt.Errorf("seccomp rule for %s: %w", name, err)
			}
		}
	}
	p.add(bpf.RetConstant{Val: def})
	return nil
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
