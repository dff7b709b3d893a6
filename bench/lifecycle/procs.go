package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// What a detached container costs in memory is found by walking /proc:
// the benchmark runs as the user that owns the containers, so it can read
// /proc/PID/cmdline and /proc/PID/smaps_rollup of all their processes.
// Zombies (which have no memory; this host's PID 1 does not reap the
// processes it inherits) and other users' processes are skipped.

// process is what the benchmark reads of one process.
type process struct {
	pid, ppid, sid int
	comm           string   // /proc/PID/stat's command name
	cmdline        []string // /proc/PID/cmdline, split at NULs
}

// procTable is a snapshot of the user's live processes.
type procTable map[int]*process

// readProcs reads the live processes of the benchmark's user.
func readProcs() (procTable, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	uid := os.Getuid()
	t := procTable{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue // gone
		}
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil || statusUID(status) != uid {
			continue
		}
		// pid (comm) state ppid pgrp session ...: comm may hold spaces and
		// parentheses, so the fields are those after its last ')'.
		i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(stat[j+1:]))
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		p := &process{pid: pid, comm: string(stat[i+1 : j])}
		p.ppid, _ = strconv.Atoi(f[1])
		p.sid, _ = strconv.Atoi(f[3])
		cl, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		p.cmdline = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		t[pid] = p
	}
	return t, nil
}

// statusUID returns the real uid in /proc/PID/status (-1 if none).
func statusUID(status []byte) int {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if uid, err := strconv.Atoi(f[0]); err == nil {
					return uid
				}
			}
		}
	}
	return -1
}

// descendants returns pid and all its live descendants.
func (t procTable) descendants(pid int) []int {
	children := map[int][]int{}
	for _, p := range t {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// inSession returns the live processes of session sid.
func (t procTable) inSession(sid int) []int {
	var out []int
	for _, p := range t {
		if p.sid == sid {
			out = append(out, p.pid)
		}
	}
	return out
}

// isCommand reports whether p is a container's own command ("sleep
// 1000"), which the memory figure leaves out.
func (p *process) isCommand() bool {
	return slices.Equal(p.cmdline, containerCmd)
}

// pss is what /proc/PID/smaps_rollup says of a process, in kB.
type pss struct {
	Rss, Pss, Anon, File, Shmem float64
}

func (a pss) plus(b pss) pss {
	return pss{a.Rss + b.Rss, a.Pss + b.Pss, a.Anon + b.Anon, a.File + b.File, a.Shmem + b.Shmem}
}

func (a pss) scaled(k float64) pss {
	return pss{a.Rss * k, a.Pss * k, a.Anon * k, a.File * k, a.Shmem * k}
}

// readPSS reads /proc/PID/smaps_rollup.
func readPSS(pid int) (pss, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return pss{}, err
	}
	defer f.Close()
	var m pss
	fields := map[string]*float64{"Rss:": &m.Rss, "Pss:": &m.Pss, "Pss_Anon:": &m.Anon, "Pss_File:": &m.File, "Pss_Shmem:": &m.Shmem}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			if p, ok := fields[f[0]]; ok {
				*p, _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return pss{}, err
	}
	if m.Rss == 0 {
		return pss{}, fmt.Errorf("/proc/%d/smaps_rollup: no Rss (a kernel thread or a process exiting)", pid)
	}
	return m, nil
}
