// Package seccomp compiles an OCI seccomp configuration (runtime-spec's
// LinuxSeccomp, as Docker and podman profiles become) into a classic BPF
// program for the running architecture, without libseccomp or cgo, and
// installs it on the calling thread.
//
// The program dispatches on the architecture (the native one and those of
// the profile the machine can run, such as i386 and x32 on x86-64; any
// other is killed, as libseccomp does), then checks the rules with
// argument conditions in turn, and finally finds the action of the other
// rules by a binary search over syscall numbers. A conditional rule thus
// takes precedence over a plain one for the same call; among rules of one
// kind the first that names a call decides. Calls no rule names get the
// default action.
package seccomp

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"

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

// x32Bit marks the syscall numbers of the x32 ABI, which shares x86-64's
// audit architecture.
const x32Bit = 0x40000000

// Compile returns the BPF program enforcing s on this machine: for its
// native architecture and for those of s.Architectures it can run (on
// x86-64: i386 and x32). Calls of any other architecture kill the process.
// Syscall names an architecture does not have are skipped (as podman
// does), with a debug log line.
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	native, compat, ok := tablesHere()
	if !ok {
		return nil, fmt.Errorf("seccomp: no syscall table for %s", runtime.GOARCH)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp default action: %w", err)
	}
	var others []*table // beyond the native one
	var x32 bool
	for _, a := range s.Architectures {
		t, ok := compat[a]
		switch {
		case !ok || t == native:
		case t == &tableX32:
			x32 = true
		default:
			others = append(others, t)
		}
	}
	var p program
	p.add(bpf.LoadAbsolute{Off: offArch, Size: 4})
	for _, t := range append([]*table{native}, others...) {
		next := p.newLabel()
		p.jump(bpf.JumpEqual, t.auditArch, "", next)
		p.goTo("arch-" + t.name)
		p.label(next)
	}
	p.add(bpf.RetConstant{Val: retKillProcess})

	p.label("arch-" + native.name)
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
		if err := p.rules(s.Syscalls, &tableX32, x32Bit, def); err != nil {
			return nil, err
		}
	}
	for _, t := range others {
		p.label("arch-" + t.name)
		p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
		if err := p.rules(s.Syscalls, t, 0, def); err != nil {
			return nil, err
		}
	}
	return p.assemble()
}

// rules appends the rules of syscalls for one architecture (whose numbers
// are ORed with bit), with the syscall number in A, and the default
// action. Rules with argument conditions come first, in order, so that
// they can take precedence over a plain rule for the same call; the plain
// rules then become a binary search over syscall number ranges (as
// libseccomp builds), so that a call costs a few comparisons, not one per
// rule. The first rule naming a call decides.
func (p *program) rules(syscalls []specs.LinuxSyscall, t *table, bit uint32, def uint32) error {
	plain := map[uint32]uint32{} // syscall number → action
	for _, withArgs := range []bool{true, false} {
		for _, sc := range syscalls {
			if (len(sc.Args) > 0) != withArgs {
				continue
			}
			ret, err := action(sc.Action, sc.ErrnoRet)
			if err != nil {
				return fmt.Errorf("seccomp rule for %v: %w", sc.Names, err)
			}
			for _, name := range sc.Names {
				numbers := t.numbers(name)
				if len(numbers) == 0 {
					slog.Debug("seccomp: unknown syscall skipped", "name", name, "arch", t.name)
				}
				for _, n := range numbers {
					nr := uint32(n) | bit
					if withArgs {
						if err := p.rule(nr, sc.Args, ret); err != nil {
							return fmt.Errorf("seccomp rule for %s: %w", name, err)
						}
					} else if _, seen := plain[nr]; !seen {
						plain[nr] = ret
					}
				}
			}
		}
	}
	p.search(intervals(plain, def))
	return nil
}

// interval is a range of syscall numbers, from start to the next
// interval's start, that share an action.
type interval struct{ start, ret uint32 }

// intervals turns the actions of some syscall numbers into the intervals
// covering every number, the others getting def.
func intervals(actions map[uint32]uint32, def uint32) []interval {
	nrs := make([]uint32, 0, len(actions))
	for nr := range actions {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	out := []interval{{0, def}}
	add := func(start, ret uint32) {
		if last := &out[len(out)-1]; last.start == start {
			last.ret = ret
		} else if last.ret != ret {
			out = append(out, interval{start, ret})
		}
		if len(out) > 1 && out[len(out)-1].ret == out[len(out)-2].ret {
			out = out[:len(out)-1]
		}
	}
	for _, nr := range nrs {
		add(nr, actions[nr])
		if _, next := actions[nr+1]; !next && nr+1 != 0 {
			add(nr+1, def)
		}
	}
	return out
}

// search appends a binary search of the syscall number (in A) over
// intervals, each leaf returning its interval's action.
func (p *program) search(iv []interval) {
	if len(iv) == 1 {
		p.add(bpf.RetConstant{Val: iv[0].ret})
		return
	}
	mid := len(iv) / 2
	right := p.newLabel()
	next := p.newLabel()
	// A >= start of the right half: jump there (unconditionally, which
	// has no 255-instruction limit).
	p.jump(bpf.JumpGreaterOrEqual, iv[mid].start, "", next)
	p.goTo(right)
	p.label(next)
	p.search(iv[:mid])
	p.label(right)
	p.search(iv[mid:])
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
