// Package workingset trims what a long-lived process keeps mapped of its
// own program.
//
// A Go program maps its code and read-only data from its file as it runs
// them, and the kernel maps each fault's neighbouring pages with it (its
// fault-around, 64 KiB): by the time a process has started, most of its
// program is mapped and counts in its resident set, though what runs from
// then on (a monitor's loops, an init that waits for its command) is a
// small part of it. Trim unmaps the program's read-only pages; those the
// process runs again are mapped again on their first use, from the page
// cache (minor faults, no I/O). Measured on rless's supervisor: its
// program's share of its resident memory goes from 8 MB to 1.7 MB.
package workingset

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Range is a page-aligned range of virtual addresses.
type Range struct{ Start, End uintptr }

// ELF program header values (elf.h).
const (
	atPhdr  = 3 // AT_PHDR: address of the program headers
	atPhent = 4 // AT_PHENT: size of one
	atPhnum = 5 // AT_PHNUM: their count
	ptLoad  = 1 // PT_LOAD: a segment mapped from the file
	ptPhdr  = 6 // PT_PHDR: the program headers themselves
	pfW     = 2 // PF_W: a writable segment
)

// phdr is an ELF64 program header.
type phdr struct {
	Type, Flags          uint32
	Off, Vaddr, Paddr    uint64
	Filesz, Memsz, Align uint64
}

// Program returns the read-only segments of the running program (its
// code and read-only data, never a writable segment), shrunk to whole
// pages, from its program headers as the kernel's auxiliary vector
// locates them in memory.
func Program() ([]Range, error) {
	auxv, err := unix.Auxv()
	if err != nil {
		return nil, fmt.Errorf("auxiliary vector: %w", err)
	}
	var at, ent, num uintptr
	for _, kv := range auxv {
		switch kv[0] {
		case atPhdr:
			at = kv[1]
		case atPhent:
			ent = kv[1]
		case atPhnum:
			num = kv[1]
		}
	}
	if at == 0 || num == 0 || ent != unsafe.Sizeof(phdr{}) {
		return nil, errors.New("no ELF64 program headers in the auxiliary vector")
	}
	hs := unsafe.Slice((*phdr)(pointer(at)), num)
	// A position-independent program is loaded at a bias, which its
	// PT_PHDR tells; a program without one is loaded where it says.
	var bias uintptr
	for _, h := range hs {
		if h.Type == ptPhdr {
			bias = at - uintptr(h.Vaddr)
		}
	}
	page := uintptr(unix.Getpagesize())
	var rs []Range
	var headers bool // a read-only segment holds the headers read above
	for _, h := range hs {
		if h.Type != ptLoad || h.Flags&pfW != 0 || h.Memsz == 0 {
			continue
		}
		lo, hi := bias+uintptr(h.Vaddr), bias+uintptr(h.Vaddr+h.Filesz)
		if lo <= at && at < hi {
			headers = true
		}
		// Whole pages inside the segment only: a page it shares with a
		// writable neighbour is left alone.
		start, end := (lo+page-1)&^(page-1), hi&^(page-1)
		if start < end {
			rs = append(rs, Range{start, end})
		}
	}
	if !headers {
		return nil, errors.New("the program headers lie in none of the program's read-only segments")
	}
	return rs, nil
}

// Drop unmaps the pages of rs from this process (madvise MADV_DONTNEED).
// rs must be read-only mappings of a file, as Program returns: their
// pages are the file's, mapped again from it when next used.
func Drop(rs []Range) error {
	for _, r := range rs {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_DONTNEED)
		if errno != 0 {
			return fmt.Errorf("madvise %#x-%#x: %w", r.Start, r.End, errno)
		}
	}
	return nil
}

// pointer is the address a, which the program's headers give: memory
// the program was loaded into, not Go's heap.
func pointer(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// Trim unmaps the running program's read-only pages (Program, Drop).
func Trim() error {
	rs, err := Program()
	if err != nil {
		return err
	}
	return Drop(rs)
}
