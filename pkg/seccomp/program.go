package seccomp

import (
	"fmt"
	"strconv"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxInstructions is the kernel's limit on a filter (BPF_MAXINSNS).
const maxInstructions = 4096

// program is a BPF program under construction whose jumps name labels,
// resolved into offsets by assemble.
type program struct {
	insns  []bpf.Instruction
	jumps  map[int][2]string // instruction index → labels of the true and false branches ("" falls through)
	gotos  map[int]string    // instruction index → label of an unconditional jump
	labels map[string]int    // label → index of the instruction it names
	n      int               // labels made by newLabel
}

func (p *program) add(i bpf.Instruction) { p.insns = append(p.insns, i) }

// jump appends a conditional jump comparing A with val.
func (p *program) jump(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	if p.jumps == nil {
		p.jumps = map[int][2]string{}
	}
	p.jumps[len(p.insns)] = [2]string{ifTrue, ifFalse}
	p.add(bpf.JumpIf{Cond: cond, Val: val})
}

// goTo appends an unconditional jump, which may go further than the 255
// instructions a conditional jump can.
func (p *program) goTo(label string) {
	if p.gotos == nil {
		p.gotos = map[int]string{}
	}
	p.gotos[len(p.insns)] = label
	p.add(bpf.Jump{})
}

func (p *program) newLabel() string {
	p.n++
	return "L" + strconv.Itoa(p.n)
}

// label names the next instruction.
func (p *program) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.insns)
}

// assemble resolves the jumps and returns the program in kernel form.
func (p *program) assemble() ([]unix.SockFilter, error) {
	if len(p.insns) > maxInstructions {
		return nil, fmt.Errorf("seccomp program of %d instructions is over the kernel's %d", len(p.insns), maxInstructions)
	}
	for i, targets := range p.jumps {
		j := p.insns[i].(bpf.JumpIf)
		for k, name := range targets {
			skip := 0
			if name != "" {
				t, ok := p.labels[name]
				if !ok {
					return nil, fmt.Errorf("seccomp: undefined label %s", name)
				}
				skip = t - i - 1
			}
			if skip < 0 || skip > 255 {
				return nil, fmt.Errorf("seccomp: jump of %d instructions at %d", skip, i)
			}
			if k == 0 {
				j.SkipTrue = uint8(skip)
			} else {
				j.SkipFalse = uint8(skip)
			}
		}
		p.insns[i] = j
	}
	for i, name := range p.gotos {
		t, ok := p.labels[name]
		if !ok || t <= i {
			return nil, fmt.Errorf("seccomp: bad jump to %s at %d", name, i)
		}
		p.insns[i] = bpf.Jump{Skip: uint32(t - i - 1)}
	}
	raw, err := bpf.Assemble(p.insns)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}
